package jawbone

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The schedule keeps a few seconds' worth of each grant: from them, it
// must find the grant due when the grant itself says it is, in every
// state (failures before and after an attempt could no longer land
// included), or a tick picks names with nothing to do, or misses some.
func TestTheScheduleAgreesWithEachGrant(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		return t0.Add(time.Duration(rng.IntN(3600)-600) * time.Second)
	}
	for i := range 20_000 {
		g := &grant{
			ObtainedAt: t0.Add(-time.Duration(rng.IntN(400*24)) * time.Hour), CheckedAt: at(),
			AttemptStartedAt: at(), LastErrorAt: at(), NextAttemptAt: at(),
			NeedsReauth: rng.IntN(10) == 0, AttemptBlind: rng.IntN(2) == 0,
		}
		g.ExpiresAt = g.ObtainedAt.Add(year)
		if g.attempting() {
			g.AttemptLandsBy = g.AttemptStartedAt.Add(time.Duration(rng.IntN(120)) * time.Second)
		}
		if !g.LastErrorAt.IsZero() {
			g.LastError = "failed"
		}
		sum := summarize(g, grantKey{}, 1).asGrant()
		for _, ahead := range []time.Duration{0, 7 * 24 * time.Hour} {
			if want, got := g.attendAt(ahead), sum.attendAt(ahead); !want.Equal(got) {
				t.Fatalf("grant %d (%+v): due at %s, the schedule says %s", i, g, want, got)
			}
		}
		if want, got := g.checkAt(time.Hour), sum.checkAt(time.Hour); !want.Equal(got) {
			t.Fatalf("grant %d (%+v): a check due at %s, the schedule says %s", i, g, want, got)
		}
	}
}
