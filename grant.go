package jawbone

// A grant's lifecycle: one state machine, whose transitions are the methods
// of grant below. Handlers and flows never set a grant's fields; every call
// to Jawbone that can replace a name's access token runs inside that name's
// critical section (registry.update) with the attempt marked in storage
// first.
//
//	state         stored                               a read                         automatic refresh
//	fresh         tokens                               the token                      no
//	due           now >= refreshAt                     refreshes first                yes
//	attempting    an attempt marker, call in flight    waits for it (lock)            -
//	in doubt      marker, outcome unknown, landsBy     the token, with a warning,     no: a new token could be
//	              not reached                          if Jawbone still accepts it    killed by the late one
//	unsettled     marker, landsBy passed               settles first                  Jawbone accepts the token:
//	                                                                                  keep it; else refresh
//	backing off   last_error, next_attempt_at          the token, with a warning      after next_attempt_at
//	expired       now >= usableUntil                   502                            yes
//	rejected      needs_reauth (after invalid_grant)   400: authorize again           never
//
//	transition        from                 to
//	newGrant          (exchange, import)   fresh
//	unverified        (import as is)       unsettled: Jawbone could not be asked about the token
//	attempting        any but rejected     attempting (marker stored before the call)
//	refreshed         attempting           fresh: marker, errors and backoff cleared
//	attemptFailed     attempting           a clean error reply: its marker cleared (an
//	                                       earlier unsettled one stays);
//	                                       invalid_grant: rejected; else backing off
//	attemptInDoubt    attempting           no clear outcome: in doubt, backing off
//	settled           unsettled            Jawbone accepts the token: fresh or due
//	landed            in doubt, unsettled  Jawbone no longer accepts the token, so
//	                                       the attempt did replace it: refresh now
//	checked           fresh                a liveness check's time
//
// An attempt's outcome is unknown when its reply was lost: a timeout, a
// broken connection, a crash of this process (or of the node that made it)
// between the call and the write. Jawbone may still complete it after we
// gave up, so it is never declared harmless by a check made while it could
// still land: landsBy (twice the request timeout after the attempt began)
// bounds how late Jawbone completes a request it got. Until then only a
// check that finds the token dead settles it: then the attempt has landed.

import (
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// grant is one creds entry: the tokens of one authorization and what we know
// about their health, as stored under creds/<name>.
type grant struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type"`
	Scopes       []string  `json:"scopes"`
	ExpiresAt    time.Time `json:"expires_at"`
	// ObtainedAt is when the request that issued the access token was sent:
	// its lifetime is counted from then, not from when the reply came.
	ObtainedAt time.Time `json:"obtained_at"`
	// AccountXID is the Jawbone account behind the grant (users/@me's
	// user_xid); "" when it could not be learned.
	AccountXID      string    `json:"account_xid,omitempty"`
	LastRefreshedAt time.Time `json:"last_refreshed_at,omitzero"`

	// NeedsReauth is set when Jawbone said invalid_grant; only a new
	// authorization, an import or a forced refresh that works clears it.
	NeedsReauth    bool      `json:"needs_reauth,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
	FailedAttempts int       `json:"failed_attempts,omitempty"`
	// NextAttemptAt holds automatic attempts back after failures, so an
	// outage is not met with a call on every read.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`

	// CheckedAt is when Jawbone last accepted the access token in a
	// liveness check.
	CheckedAt time.Time `json:"checked_at,omitzero"`

	// AttemptStartedAt marks an attempt that may replace the access token.
	// It is stored before the call and cleared by a known outcome; while it
	// is set, the stored access token is not trusted without a check.
	AttemptStartedAt time.Time `json:"refresh_started_at,omitzero"`
	// AttemptLandsBy is when Jawbone can no longer complete the attempt.
	AttemptLandsBy time.Time `json:"refresh_lands_by,omitzero"`
	// AttemptBlind is set when the attempt began on an access token that
	// was already in doubt or dead: then a check that finds the token dead
	// says nothing of whether the attempt landed.
	AttemptBlind bool `json:"refresh_blind,omitempty"`
	// Layout is the storage layout the grant was written in (registry.go):
	// 0 by v0.1.x, which kept no indexes. (A byte beside AttemptBlind: the
	// struct is what every cached grant costs.)
	Layout uint8 `json:"layout,omitempty"`
}

const (
	// Backoff after failures: doubling from backoffBase, capped, and never
	// shorter than what Jawbone asked for.
	backoffBase = 30 * time.Second
	backoffMax  = time.Hour
	// retryAfterMax caps a Retry-After header so a broken provider cannot
	// park a token's refresh for days.
	retryAfterMax = 6 * time.Hour
	// expiryMarginMax is how long before its expiry a token stops being
	// handed out: clocks differ, and a token must still work when it is
	// used. Short-lived tokens get a tenth of their life instead.
	expiryMarginMax = 30 * time.Second
	// minTTL keeps Vault Agent from re-reading more than about every few
	// seconds while a refresh is held back.
	minTTL = 5 * time.Second
	// landingFactor times the request timeout bounds how long after an
	// attempt began Jawbone may still complete it.
	landingFactor = 2
)

// newGrant makes a grant from a fresh token reply to a request sent at
// sentAt. A reply without a refresh token keeps keepRefresh: Jawbone's
// refresh tokens do not rotate.
func newGrant(tok *jawbone.Token, keepRefresh string, scopes []string, sentAt time.Time) *grant {
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = keepRefresh
	}
	return &grant{
		AccessToken:     tok.AccessToken,
		RefreshToken:    refresh,
		TokenType:       tok.TokenType,
		Scopes:          scopes,
		ExpiresAt:       sentAt.Add(max(tok.ExpiresIn, 0)),
		ObtainedAt:      sentAt,
		LastRefreshedAt: sentAt,
	}
}

// --- what state g is in ---------------------------------------------------

// lifetime is how long the access token lives from when it was obtained.
func (g *grant) lifetime() time.Duration { return max(g.ExpiresAt.Sub(g.ObtainedAt), 0) }

// margin is how long before its expiry the token stops being handed out.
func (g *grant) margin() time.Duration { return min(expiryMarginMax, g.lifetime()/10) }

// usableUntil is when the token stops being handed out.
func (g *grant) usableUntil() time.Time { return g.ExpiresAt.Add(-g.margin()) }

// expired reports whether the token may no longer be handed out.
func (g *grant) expired(now time.Time) bool { return !now.Before(g.usableUntil()) }

// refreshAt is when an automatic refresh is due: refreshAhead before the
// expiry, but never before half the token's life is over (a token that
// lives less than refreshAhead would otherwise be refreshed by every read,
// each refresh killing the token the previous reader got), and never later
// than it stops being handed out.
func (g *grant) refreshAt(refreshAhead time.Duration) time.Time {
	ahead := max(min(refreshAhead, g.lifetime()/2), g.margin())
	return g.ExpiresAt.Add(-ahead)
}

// due reports whether g's refresh window has opened.
func (g *grant) due(refreshAhead time.Duration, now time.Time) bool {
	return !now.Before(g.refreshAt(refreshAhead))
}

// attempting reports whether an attempt that may have replaced the access
// token has no known outcome (it is in flight, or its reply was lost).
func (g *grant) attempting() bool { return !g.AttemptStartedAt.IsZero() }

// mayLand reports whether the attempt in doubt could still complete at
// Jawbone. Entries stored before landsBy was recorded count from the
// attempt's start with the current timeout.
func (g *grant) mayLand(now time.Time, timeout time.Duration) bool {
	return now.Before(g.landsBy(timeout))
}

// landsBy is when Jawbone can no longer carry the attempt out. Entries
// stored before it was recorded count from the attempt's start with the
// current timeout.
func (g *grant) landsBy(timeout time.Duration) time.Time {
	if g.AttemptLandsBy.IsZero() {
		return g.AttemptStartedAt.Add(landingFactor * timeout)
	}
	return g.AttemptLandsBy
}

// acceptedInDoubt reports whether the token of a grant with an attempt in
// doubt may be handed out (with a warning): Jawbone accepted it after the
// attempt began, and the attempt may still land (once it can no longer,
// only a check made after that says whether it did).
func (g *grant) acceptedInDoubt(now time.Time, timeout time.Duration) bool {
	return g.attempting() && !g.CheckedAt.Before(g.AttemptStartedAt) && g.mayLand(now, timeout)
}

// backingOff reports whether automatic attempts are held back.
func (g *grant) backingOff(now time.Time) bool { return now.Before(g.NextAttemptAt) }

// attendAt is when a read or the background should take the grant's
// critical section: once it is due, or at once while an attempt is in
// doubt, but not while it backs off; zero: never (it was rejected). A
// backoff holds back new calls, not the settling of an attempt: once the
// attempt can no longer land it is settled, unless a check made since then
// failed (that check's own backoff holds).
func (g *grant) attendAt(refreshAhead time.Duration) time.Time {
	switch {
	case g.NeedsReauth:
		return time.Time{}
	case !g.attempting():
		return later(g.refreshAt(refreshAhead), g.NextAttemptAt)
	}
	next := g.NextAttemptAt
	if landsBy := g.AttemptLandsBy; !landsBy.IsZero() && next.After(landsBy) && g.LastErrorAt.Before(landsBy) {
		next = landsBy
	}
	return later(g.AttemptStartedAt, next)
}

// wantsAttention reports whether attendAt has come.
func (g *grant) wantsAttention(refreshAhead time.Duration, now time.Time) bool {
	return reached(g.attendAt(refreshAhead), now)
}

// checkAt is when a liveness check of the token is due: interval after
// Jawbone last accepted it (or it was issued), not while the grant backs
// off; zero: never (no checks, rejected, or an attempt in doubt).
func (g *grant) checkAt(interval time.Duration) time.Time {
	if interval <= 0 || g.NeedsReauth || g.attempting() {
		return time.Time{}
	}
	return later(later(g.CheckedAt, g.ObtainedAt).Add(interval), g.NextAttemptAt)
}

// checkDue reports whether a liveness check of a healthy token is due.
func (g *grant) checkDue(interval time.Duration, now time.Time) bool {
	return reached(g.checkAt(interval), now) && !g.expired(now)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// reached reports whether the time at has come by now (never, if zero).
func reached(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

// --- transitions ------------------------------------------------------------

// withAttempt is g with an attempt marked, to be stored before a call that
// may replace (or kill) the access token. tokenDead says that Jawbone no
// longer accepts the token the attempt begins on: then, as when another
// attempt is still in doubt, a check that finds the token dead later says
// nothing of whether this attempt landed (it is blind).
func (g *grant) withAttempt(now time.Time, timeout time.Duration, tokenDead bool) *grant {
	a := *g
	a.AttemptStartedAt = now
	a.AttemptLandsBy = now.Add(landingFactor * timeout)
	a.AttemptBlind = tokenDead || g.attempting()
	if g.attempting() {
		// One marker covers both: the earlier attempt may land as late.
		a.AttemptLandsBy = later(a.AttemptLandsBy, g.AttemptLandsBy)
	}
	return &a
}

// sentAt is g, marked, with its attempt's call sent at now: Jawbone may
// carry a call out until twice the timeout after it was sent, which is
// later than the mark's landing time when something (a check of the
// token) ran between the mark and the call.
func (g *grant) sentAt(now time.Time, timeout time.Duration) *grant {
	a := *g
	a.AttemptLandsBy = later(g.AttemptLandsBy, now.Add(landingFactor*timeout))
	return &a
}

// withInheritedAttempt is g stored with an attempt on its grant that was
// made for a name since deleted, and that Jawbone may still carry out:
// until it can no longer, g's token is in doubt like any.
func (g *grant) withInheritedAttempt(started, landsBy time.Time) *grant {
	a := *g
	a.AttemptStartedAt, a.AttemptLandsBy, a.AttemptBlind = started, landsBy, false
	return &a
}

// tokenRejected is g after Jawbone rejected its token outside an attempt:
// as after an attempt that landed, the next read (or tick) checks it once
// more and refreshes the grant.
func (g *grant) tokenRejected(now time.Time) *grant {
	return g.withAttempt(now, 0, false)
}

// unverified is g, whose access token was taken as is (an import) while
// Jawbone could not be asked whether it accepts it: it may be dead already,
// so like a token Jawbone rejected it is checked before it is handed out
// (kept if Jawbone accepts it, else the grant is refreshed).
func (g *grant) unverified(now time.Time) *grant { return g.tokenRejected(now) }

// landed is g with its attempt known to be over: Jawbone carried it out
// (a disconnect it confirmed), so a check now tells what it did. before is
// g as it was before the attempt was marked: an attempt of its own that was
// in doubt then may still land as late as it could.
func (g *grant) landed(now time.Time, before *grant) *grant {
	a := *g
	a.AttemptLandsBy = now
	if before.attempting() {
		a.AttemptLandsBy = later(now, before.AttemptLandsBy)
	}
	return &a
}

// landedIfDead reports whether a check that finds the token dead proves
// that the attempt in doubt landed: it began on a token Jawbone accepted,
// and the token has not simply expired.
func (g *grant) landedIfDead(now time.Time) bool {
	return g.attempting() && !g.AttemptBlind && !g.expired(now)
}

// refreshed is g with the token a refresh sent at sentAt returned.
func (g *grant) refreshed(tok *jawbone.Token, sentAt time.Time) *grant {
	return newGrant(tok, g.RefreshToken, g.Scopes, sentAt).ofAccount(g.AccountXID)
}

// ofAccount is g recorded as a grant of Jawbone account xid.
func (g *grant) ofAccount(xid string) *grant {
	a := *g
	a.AccountXID = xid
	return &a
}

// learned is g with the account Jawbone named in a check of its token,
// if g's was not known (stored before accounts were recorded, or Jawbone
// did not say then): a revoke of any account no longer concerns it.
func (g *grant) learned(xid string) *grant {
	if g.AccountXID != "" || xid == "" {
		return g
	}
	return g.ofAccount(xid)
}

// attemptFailed is g, as it was before an attempt that Jawbone answered
// with an error: the attempt replaced nothing, so it leaves no marker (an
// earlier attempt still unsettled keeps its own: the answer says nothing of
// that one). invalid_grant marks the grant rejected; anything else backs
// off.
func (g *grant) attemptFailed(err error, now time.Time) *grant {
	f := g.failed(err, now)
	if jawbone.KindOf(err) == jawbone.GrantRejected {
		f.NeedsReauth = true
		f.NextAttemptAt = time.Time{}
	}
	return f
}

// attemptInDoubt is g (still marked) after an attempt with no known
// outcome: it backs off, and the marker stays until the attempt is settled.
// An attempt that Jawbone has finished with (it answered, unreadably)
// cannot land any more.
func (g *grant) attemptInDoubt(err error, now time.Time) *grant {
	f := g.failed(err, now)
	if !jawbone.InFlight(err) {
		f.AttemptLandsBy = now
	}
	return f
}

// checkFailed is g after a check that got no clear answer: it backs off.
func (g *grant) checkFailed(err error, now time.Time) *grant {
	return g.failed(err, now)
}

func (g *grant) failed(err error, now time.Time) *grant {
	f := *g
	f.LastError = err.Error()
	f.LastErrorAt = now
	f.FailedAttempts++
	f.NextAttemptAt = now.Add(backoff(f.FailedAttempts, err))
	return &f
}

// settled is g after the attempt in doubt could no longer land and Jawbone
// still accepted the token: it replaced nothing. A failure it recorded
// (and its backoff) stays: the attempt failed.
func (g *grant) settled(now time.Time) *grant {
	s := *g
	s.AttemptStartedAt, s.AttemptLandsBy, s.AttemptBlind = time.Time{}, time.Time{}, false
	s.CheckedAt = now
	return &s
}

// checked is g after Jawbone accepted its token in a liveness check.
func (g *grant) checked(now time.Time) *grant {
	c := *g
	c.CheckedAt = now
	return &c
}

// backoff is how long to wait after the n-th consecutive failure.
func backoff(n int, err error) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	if after := jawbone.RetryAfter(err); after > d {
		d = min(after, retryAfterMax)
	}
	return d
}

// --- the read view ----------------------------------------------------------

// view is the read view of g: never the refresh token. ttl with
// rotation_period is how consul-template (Vault Agent) knows when a
// lease-less secret changes: it re-reads ttl+1 seconds later. ttl is never
// more than maxTTL-1s, so that Agent notices within maxTTL a token that
// changed outside the schedule (a forced refresh, a new authorization, an
// import).
func (g *grant) view(cfg *config, now time.Time) map[string]any {
	next := g.refreshAt(cfg.RefreshAhead)
	if g.attempting() {
		next = g.AttemptLandsBy
	}
	if g.NextAttemptAt.After(next) {
		next = g.NextAttemptAt
	}
	// Sized for every field a read can carry, so the map never grows.
	data := make(map[string]any, 15)
	data[keyAccessToken] = g.AccessToken
	data[keyTokenType] = g.TokenType
	data[keyExpiresAt] = g.ExpiresAt.UTC().Format(time.RFC3339)
	data[keyExpiresIn] = seconds(g.ExpiresAt.Sub(now))
	data[keyScopes] = g.Scopes
	data[keyTTL] = seconds(max(min(next.Sub(now), cfg.MaxTTL-time.Second), minTTL))
	data[keyRotationPeriod] = seconds(max(g.refreshAt(cfg.RefreshAhead).Sub(g.ObtainedAt), minTTL))
	data[keyNeedsReauth] = g.NeedsReauth
	if g.AccountXID != "" {
		data[keyAccountXID] = g.AccountXID
	}
	setTime(data, keyLastRefreshed, g.LastRefreshedAt)
	if g.LastError != "" {
		data[keyLastError] = g.LastError
		setTime(data, keyLastErrorAt, g.LastErrorAt)
	}
	setTime(data, keyNextAttemptAt, g.NextAttemptAt)
	return data
}

// health is g's state without its token, for creds/<name>/status.
func (g *grant) health(now time.Time) map[string]any {
	data := map[string]any{
		keyExpiresAt:   g.ExpiresAt.UTC().Format(time.RFC3339),
		keyExpiresIn:   seconds(g.ExpiresAt.Sub(now)),
		keyScopes:      g.Scopes,
		keyNeedsReauth: g.NeedsReauth,
		keyAccountXID:  g.AccountXID,
	}
	setTime(data, keyLastRefreshed, g.LastRefreshedAt)
	setTime(data, keyCheckedAt, g.CheckedAt)
	if g.LastError != "" {
		data[keyLastError] = g.LastError
		setTime(data, keyLastErrorAt, g.LastErrorAt)
	}
	setTime(data, keyNextAttemptAt, g.NextAttemptAt)
	if g.attempting() {
		setTime(data, keyInDoubtUntil, g.AttemptLandsBy)
	}
	return data
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func setTime(data map[string]any, key string, t time.Time) {
	if !t.IsZero() {
		data[key] = t.UTC().Format(time.RFC3339)
	}
}
