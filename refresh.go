package jawbone

// Refreshing a grant, and settling attempts whose outcome is unknown. The
// states and transitions are described in grant.go.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// credsRead is a grant as a read finds it: refreshed first when it was due.
type credsRead struct {
	cfg   *config
	grant *grant
	// at is when the read judged the grant: whether a token in doubt may
	// be handed out is answered for that time, so that a landing time
	// passing meanwhile cannot turn a token the read chose to hand out
	// into an error.
	at time.Time
	// refreshErr is why an attempt the read made failed.
	refreshErr error
}

// readCreds reads the grant of name, refreshing it first when it is due and
// settling an attempt in doubt.
func (b *backend) readCreds(ctx context.Context, s logical.Storage, name string) (*credsRead, error) {
	cfg, g, err := b.loadGrant(ctx, s, name)
	if err != nil {
		return nil, err
	}
	read := &credsRead{cfg: cfg, grant: g, at: b.now()}
	if g.wantsAttention(cfg.RefreshAhead, read.at) {
		res := b.refreshShared(ctx, s, cfg, name)
		if res.fatal != nil {
			return nil, res.fatal
		}
		if res.grant == nil {
			return nil, missingCreds(name) // deleted meanwhile
		}
		read.grant, read.refreshErr = res.grant, res.err
	}
	return read, nil
}

// forceRefresh refreshes the grant of name now, whatever its state; a
// failure is an error.
func (b *backend) forceRefresh(ctx context.Context, s logical.Storage, name string) (*credsRead, error) {
	cfg, _, err := b.loadGrant(ctx, s, name)
	if err != nil {
		return nil, err
	}
	res := b.attend(context.WithoutCancel(ctx), s, cfg, name, true)
	switch g := res.grant; {
	case res.fatal != nil:
		return nil, res.fatal
	case g == nil:
		return nil, missingCreds(name)
	case g.attempting() && g.mayLand(b.now(), cfg.RequestTimeout) && !res.attempted:
		return nil, conflict("an earlier refresh of creds %q did not complete and Jawbone may still carry it out until %s, which would kill any token issued before then",
			name, g.AttemptLandsBy.UTC().Format(time.RFC3339)).withFix(fixRefreshLater(name))
	case g.attempting() && g.mayLand(b.now(), cfg.RequestTimeout):
		return nil, refreshInDoubt(name, res.err, g.AttemptLandsBy)
	case res.err != nil:
		return nil, providerFailure(res.err, fixReauth(name), nil)
	}
	return &credsRead{cfg: cfg, grant: res.grant, at: b.now()}, nil
}

// refreshInDoubt answers a forced refresh whose own outcome Jawbone's
// answer (or its silence) does not tell: what the failure itself calls for,
// and that the refresh may still be carried out.
func refreshInDoubt(name string, err error, landsBy time.Time) error {
	var cause *requestError
	errors.As(providerFailure(err, fixReauth(name), nil), &cause)
	return conflict("this refresh of creds %q did not complete (%v): Jawbone may still carry it out until %s, which would kill any token issued before then",
		name, err, landsBy.UTC().Format(time.RFC3339)).withFix(func(m string) string {
		return cause.fix(m) + "; " + fixRefreshLater(name)(m)
	})
}

// loadGrant is the config and the grant of name, which must exist.
func (b *backend) loadGrant(ctx context.Context, s logical.Storage, name string) (*config, *grant, error) {
	if err := validateCredsName(name); err != nil {
		return nil, nil, err
	}
	cfg, err := b.requireConfig(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	g, err := b.registry.get(ctx, s, name)
	if err != nil {
		return nil, nil, err
	}
	if g == nil {
		return nil, nil, missingCreds(name)
	}
	return cfg, g, nil
}

func missingCreds(name string) error {
	return notFound("no creds named %q", name).withFix(fixMissingCreds(name))
}

// attended is what attending to a grant came to.
type attended struct {
	grant *grant // as stored afterwards; nil: no such creds
	err   error  // why Jawbone did not give a new token or a clear answer
	// inDoubt: an attempt may still land, and Jawbone accepted the stored
	// token just now.
	inDoubt bool
	// attempted: this call made an attempt (a refresh) of its own.
	attempted bool
	fatal     error // storage failed, or this node cannot write
}

// refreshShared attends to a due grant for a read or the background scan.
// Concurrent callers for one name share one attempt; the shared call
// outlives any one caller's cancellation, because its result is stored and
// used by everyone waiting on it.
func (b *backend) refreshShared(ctx context.Context, s logical.Storage, cfg *config, name string) attended {
	shared := context.WithoutCancel(ctx)
	return b.share(name, func() attended { return b.attend(shared, s, cfg, name, false) })
}

// shareOnce runs attend once for every concurrent caller of name.
func (b *backend) shareOnce(name string, attend func() attended) attended {
	v, _, _ := b.refreshes.Do(name, func() (any, error) { return attend(), nil })
	return v.(attended)
}

// attend does what the grant of name needs, inside its critical section:
// settle an attempt in doubt, then refresh if it is due (or forced).
func (b *backend) attend(ctx context.Context, s logical.Storage, cfg *config, name string, force bool) attended {
	var res attended
	err := b.registry.update(ctx, s, name, func(tx *grantTx) error {
		if tx.current != nil {
			res = b.attendLocked(tx, cfg, force)
		}
		return nil
	})
	if err != nil {
		res = attended{fatal: err}
	}
	return res
}

func (b *backend) attendLocked(tx *grantTx, cfg *config, force bool) attended {
	g, now := tx.current, b.now()
	if !force && !g.wantsAttention(cfg.RefreshAhead, now) {
		return attended{grant: g} // another caller did it meanwhile
	}
	if !b.canWriteStorage() {
		// Jawbone kills the old access token on refresh: never refresh where
		// the new one cannot be stored. Vault forwards ErrReadOnly requests
		// to the node that can write.
		return attended{grant: g, fatal: logical.ErrReadOnly}
	}
	tokenDead := false
	if g.attempting() {
		settled, next := b.settleLocked(tx, cfg, g, now)
		switch {
		case next == settleDone:
			return settled
		case next == settleKept && !force && !settled.grant.due(cfg.RefreshAhead, now):
			return settled
		}
		g, tokenDead = settled.grant, next == settleRefresh
	}
	return b.refreshLocked(tx, cfg, g, 1, tokenDead)
}

// What settling an attempt in doubt leads to.
type settleNext int

const (
	settleDone    settleNext = iota // nothing more to do now
	settleKept                      // it replaced nothing: refresh only if due
	settleRefresh                   // Jawbone does not accept the token (or did not say) and the attempt is over: refresh now
)

// settleLocked decides an attempt in doubt.
func (b *backend) settleLocked(tx *grantTx, cfg *config, g *grant, now time.Time) (attended, settleNext) {
	xid, works, err := b.check(tx.ctx, cfg, g)
	answeredAt := b.now() // a token may have expired while Jawbone was asked
	mayLand := g.mayLand(now, cfg.RequestTimeout)
	switch {
	case works && !mayLand:
		settled := g.settled(now).learned(xid)
		if err := tx.put(settled); err != nil {
			return attended{grant: g, fatal: err}, settleDone
		}
		b.log().Info("an attempt in doubt replaced nothing; keeping the stored token", "name", tx.name)
		return attended{grant: settled}, settleKept
	case works:
		// It may still land, and then it kills whatever we hold: neither a
		// new token nor this one can be handed out as if all were well.
		alive := g.checked(now).learned(xid)
		if err := tx.put(alive); err != nil {
			return attended{grant: g, fatal: err}, settleDone
		}
		return attended{grant: alive, inDoubt: true}, settleDone
	case jawbone.KindOf(err) == jawbone.TokenRejected && g.landedIfDead(answeredAt):
		b.log().Info("an attempt in doubt replaced the stored token; refreshing", "name", tx.name)
		return attended{grant: g}, settleRefresh // it landed: a refresh is safe now
	case !mayLand:
		return attended{grant: g}, settleRefresh // it can no longer land: a refresh is safe
	}
	failed := g.checkFailed(err, now)
	if err := tx.put(failed); err != nil {
		b.log().Error("could not record a failed check", "name", tx.name, "error", err)
		return attended{grant: g, err: err}, settleDone
	}
	return attended{grant: failed, err: err}, settleDone
}

// check asks Jawbone whether it accepts g's access token. works is true
// only on Jawbone's own answer, which names the account (xid); err says
// why not.
func (b *backend) check(ctx context.Context, cfg *config, g *grant) (xid string, works bool, err error) {
	acct, err := b.client(cfg).Me(ctx, g.AccessToken)
	if err != nil {
		return "", false, err
	}
	return acct.XID, true, nil
}

// refreshLocked refreshes g, marking the attempt in storage first;
// tokenDead says Jawbone no longer accepts g's token (or did not say), and
// otherwise Jawbone is asked first. After an attempt whose outcome is
// unknown it checks the stored token at once: if Jawbone no longer accepts
// it and it did before, the attempt landed, and one more attempt (while
// retries are left) is safe.
func (b *backend) refreshLocked(tx *grantTx, cfg *config, g *grant, retries int, tokenDead bool) attended {
	if g.RefreshToken == "" {
		return attended{grant: g, fatal: badRequest("creds %q hold no refresh token, so they cannot be refreshed", tx.name).withFix(fixReauth(tx.name))}
	}
	sentAt := b.now()
	marked := g.withAttempt(sentAt, cfg.RequestTimeout, tokenDead)
	if err := tx.put(marked); err != nil {
		return attended{grant: g, fatal: fmt.Errorf("marking the refresh of creds %q: %w", tx.name, err)}
	}
	if !marked.AttemptBlind {
		// Whether Jawbone accepts the token the attempt begins on decides
		// what a dead token means after a lost reply: that the attempt
		// landed, or nothing (the token was dead already: another client
		// refreshed the grant, the account disconnected the app). Asked
		// once the attempt is marked, so that nothing of ours can kill the
		// token in between; a crash before the call is harmless.
		_, works, err := b.check(tx.ctx, cfg, g)
		if jawbone.KindOf(err) == jawbone.TokenRejected {
			tokenDead = true
			if !g.expired(b.now()) {
				b.metrics.foundDead()
			}
		}
		// The check took time, up to request_timeout: the mark must cover
		// a refresh sent now.
		remarked := g.withAttempt(sentAt, cfg.RequestTimeout, !works).sentAt(b.now(), cfg.RequestTimeout)
		if remarked.AttemptBlind != marked.AttemptBlind || !remarked.AttemptLandsBy.Equal(marked.AttemptLandsBy) {
			if err := tx.put(remarked); err != nil {
				return attended{grant: g, fatal: fmt.Errorf("marking the refresh of creds %q: %w", tx.name, err)}
			}
			marked = remarked
		}
	}
	res := b.callRefresh(tx, cfg, g, marked, retries, sentAt, tokenDead)
	res.attempted = true
	return res
}

// callRefresh makes the refresh marked on g (as marked) and records what
// came of it. tokenDead says Jawbone no longer accepts g's token, or did
// not say.
func (b *backend) callRefresh(tx *grantTx, cfg *config, g, marked *grant, retries int, sentAt time.Time, tokenDead bool) attended {
	tok, err := b.client(cfg).Refresh(tx.ctx, g.RefreshToken)
	now := b.now()
	switch {
	case err == nil:
		return b.storeRefreshed(tx, marked, tok, sentAt)
	case !jawbone.MayHaveIssued(err):
		before := g
		if tokenDead && !g.attempting() {
			// What made the refresh needed stays known: the token is not
			// handed out again before Jawbone says it accepts it.
			before = g.tokenRejected(now)
		}
		return b.recordFailure(tx, marked, before.attemptFailed(err, now), err)
	}
	doubt := marked.attemptInDoubt(err, now)
	res := b.recordFailure(tx, marked, doubt, err)
	if res.fatal != nil || res.grant != doubt || retries == 0 {
		return res
	}
	askedAt := b.now()
	xid, works, checkErr := b.check(tx.ctx, cfg, doubt)
	switch {
	case works && !doubt.mayLand(askedAt, cfg.RequestTimeout):
		// Finished at Jawbone, and it replaced nothing: a failure like any.
		failed := g.attemptFailed(err, now)
		if err := tx.put(failed); err == nil {
			res.grant = failed
		}
	case works:
		alive := doubt.checked(askedAt).learned(xid)
		if err := tx.put(alive); err == nil {
			res.grant = alive
		}
		res.inDoubt = true
	case jawbone.KindOf(checkErr) == jawbone.TokenRejected && doubt.landedIfDead(b.now()):
		b.log().Info("a refresh whose reply was lost replaced the stored token; refreshing again", "name", tx.name)
		return b.refreshLocked(tx, cfg, doubt, retries-1, true)
	}
	return res
}

// storeRefreshed stores the token a refresh returned. A token that has
// expired on arrival is stored (it replaced the old one) but counts as a
// failure, so that it is not refreshed again on every read.
func (b *backend) storeRefreshed(tx *grantTx, marked *grant, tok *jawbone.Token, sentAt time.Time) attended {
	name := tx.name
	fresh := marked.refreshed(tok, sentAt)
	var expiredErr error
	if tok.ExpiresIn <= 0 {
		expiredErr = &jawbone.Error{Op: "refresh", Kind: jawbone.Transient,
			Err: fmt.Errorf("the token endpoint issued an access token that has expired already (expires_in %d)", int64(tok.ExpiresIn/time.Second))}
		fresh = fresh.failed(expiredErr, b.now())
	}
	if err := tx.put(fresh); err != nil {
		// The marker stays: the stored access token is dead now, and the
		// next read refreshes again (refresh tokens do not rotate).
		b.log().Error("refreshed token could not be stored", "name", name, "error", err)
		return attended{grant: marked, fatal: fmt.Errorf("refreshed creds %q but could not store the result: %w", name, err)}
	}
	if expiredErr != nil {
		b.metrics.refreshFailed(jawbone.Transient)
		b.log().Warn("refresh returned an expired token; will retry", "name", name, "next_attempt_at", fresh.NextAttemptAt)
		return attended{grant: fresh, err: expiredErr}
	}
	b.metrics.refreshed(b.now())
	b.log().Info("creds refreshed", "name", name, "expires_at", fresh.ExpiresAt)
	return attended{grant: fresh}
}

// recordFailure stores failed, what an attempt on marked came to, and
// keeps every token.
func (b *backend) recordFailure(tx *grantTx, marked, failed *grant, refreshErr error) attended {
	name := tx.name
	b.metrics.refreshFailed(jawbone.KindOf(refreshErr))
	switch {
	case failed.NeedsReauth:
		b.log().Error("jawbone rejected the refresh token; creds need re-authorization", "name", name, "error", refreshErr)
	case failed.attempting():
		b.log().Warn("refresh outcome unknown; will settle it", "name", name, "error", refreshErr, "next_attempt_at", failed.NextAttemptAt)
	default:
		b.log().Warn("refresh failed; will retry", "name", name, "error", refreshErr, "next_attempt_at", failed.NextAttemptAt)
	}
	if err := tx.put(failed); err != nil {
		// The marker stays stored, so the token is not trusted unchecked.
		b.log().Error("could not record refresh failure", "name", name, "error", err)
		return attended{grant: marked, err: refreshErr}
	}
	return attended{grant: failed, err: refreshErr}
}
