// Package settings resolves the function's settings — the feeds config and the
// database DSN — from a bundled file, an SSM parameter or a Secrets Manager
// secret, and caches each value for a while (5 minutes by default) so a change
// takes effect in a warm container without a deploy.
package settings

import (
	"context"
	"sync"
	"time"
)

// DefaultTTL is how long a fetched value is reused before it is read again.
const DefaultTTL = 5 * time.Minute

// Source fetches the current value of one setting.
type Source interface {
	// Fetch reads the value now.
	Fetch(ctx context.Context) (string, error)
	// String names the source without revealing a secret.
	String() string
}

// Cache serves a Source's value, reading it again once TTL has passed.
// When a re-read fails and an older value exists, the older value is served
// (and OnStale is told) and the next Get tries again: a brief SSM or Secrets
// Manager outage does not fail an export that worked a minute ago.
type Cache struct {
	src Source
	ttl time.Duration
	now func() time.Time
	// OnStale, if set, is called when a re-read failed and the old value is served.
	OnStale func(src Source, err error)

	mu  sync.Mutex
	val string
	at  time.Time
	ok  bool
}

// NewCache caches src for ttl (DefaultTTL when 0); now is the clock (time.Now when nil).
func NewCache(src Source, ttl time.Duration, now func() time.Time) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{src: src, ttl: ttl, now: now}
}

// Source returns the cached source.
func (c *Cache) Source() Source { return c.src }

// Get returns the value, fetching it when it was never read or is older than the TTL.
func (c *Cache) Get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.ok && now.Sub(c.at) < c.ttl {
		return c.val, nil
	}
	v, err := c.src.Fetch(ctx)
	if err != nil {
		if c.ok {
			if c.OnStale != nil {
				c.OnStale(c.src, err)
			}
			return c.val, nil
		}
		return "", err
	}
	c.val, c.at, c.ok = v, now, true
	return v, nil
}
