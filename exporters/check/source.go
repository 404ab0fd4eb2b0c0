package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// errNotFound marks an object that does not exist (HTTP 404, blob.ErrNotFound).
var errNotFound = errors.New("not found")

// notFound is errNotFound with the HTTP status as its text.
type notFound string

func (n notFound) Error() string        { return string(n) }
func (n notFound) Is(target error) bool { return target == errNotFound }

// object is one object as read: its body and the metadata a consumer sees.
type object struct {
	body            io.ReadCloser // nil for a HEAD
	contentType     string
	contentEncoding string
	cacheControl    string
	etag            string
	sha256, version string // x-amz-meta-sha256, x-amz-meta-version ("" when absent)
}

// source reads a published prefix.
type source interface {
	// get opens key (relative to the prefix); head only asks for its metadata.
	get(ctx context.Context, key string) (*object, error)
	head(ctx context.Context, key string) (*object, error)
	// revalidate sends a conditional GET of key with If-None-Match: etag and
	// returns the status code (HTTP only).
	revalidate(ctx context.Context, key, etag string) (int, error)
	// http reports whether the source is public HTTP, so HTTP metadata count.
	http() bool
	close() error
}

// usageError is a URL that cannot name a published prefix at all.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// openSource opens rawURL: http(s)://, file://DIR or s3://bucket/prefix.
func openSource(ctx context.Context, rawURL string, client *http.Client) (source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, usageError{fmt.Errorf("URL %q: %w", rawURL, err)}
	}
	switch u.Scheme {
	case "http", "https":
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		u.RawQuery, u.Fragment = "", ""
		if client == nil {
			client = &http.Client{Transport: &http.Transport{
				Proxy: http.ProxyFromEnvironment, DisableCompression: true,
				ResponseHeaderTimeout: 60 * time.Second, MaxIdleConnsPerHost: 16,
			}}
		}
		return &httpSource{base: u, client: client}, nil
	case "file":
		dir := u.Host + u.Path
		if u.Opaque != "" {
			dir = u.Opaque
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			if err == nil {
				err = errors.New("not a directory")
			}
			return nil, fmt.Errorf("%s: %w", rawURL, err)
		}
	case "s3":
	default:
		return nil, usageError{fmt.Errorf("URL %q: want https://, http://, file://DIR or s3://bucket/prefix", rawURL)}
	}
	s, err := blob.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return &blobSource{s: s}, nil
}

// httpSource reads anonymously over HTTP, as a browser or an app does.
type httpSource struct {
	base   *url.URL
	client *http.Client
}

func (h *httpSource) http() bool   { return true }
func (h *httpSource) close() error { h.client.CloseIdleConnections(); return nil }

func (h *httpSource) url(key string) string {
	return h.base.ResolveReference(&url.URL{Path: key}).String()
}

func (h *httpSource) do(ctx context.Context, method, key string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.url(key), nil)
	if err != nil {
		return nil, err
	}
	// Asked for explicitly, so that the transport leaves the body and the
	// Content-Encoding header as the server sent them.
	req.Header.Set("Accept-Encoding", "gzip")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, h.url(key), err)
	}
	return resp, nil
}

func (h *httpSource) fetch(ctx context.Context, method, key string) (*object, error) {
	resp, err := h.do(ctx, method, key, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s %s: %w", method, h.url(key), notFound(resp.Status))
		}
		return nil, fmt.Errorf("%s %s: %s", method, h.url(key), resp.Status)
	}
	o := &object{
		contentType: resp.Header.Get("Content-Type"), contentEncoding: resp.Header.Get("Content-Encoding"),
		cacheControl: resp.Header.Get("Cache-Control"), etag: resp.Header.Get("ETag"),
		sha256: resp.Header.Get("X-Amz-Meta-Sha256"), version: resp.Header.Get("X-Amz-Meta-Version"),
	}
	if method == http.MethodHead {
		resp.Body.Close()
	} else {
		o.body = resp.Body
	}
	return o, nil
}

func (h *httpSource) get(ctx context.Context, key string) (*object, error) {
	return h.fetch(ctx, http.MethodGet, key)
}

func (h *httpSource) head(ctx context.Context, key string) (*object, error) {
	return h.fetch(ctx, http.MethodHead, key)
}

func (h *httpSource) revalidate(ctx context.Context, key, etag string) (int, error) {
	resp, err := h.do(ctx, http.MethodGet, key, map[string]string{"If-None-Match": etag})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) //nolint:errcheck // only the status matters
	return resp.StatusCode, nil
}

// blobSource reads through a blob store (file://, s3:// with the SDK chain):
// content only.
type blobSource struct{ s blob.Store }

func (b *blobSource) http() bool   { return false }
func (b *blobSource) close() error { return b.s.Close() }

func fromAttrs(a blob.Attrs) *object {
	return &object{contentType: a.ContentType, contentEncoding: a.ContentEncoding, cacheControl: a.CacheControl,
		etag: a.ETag, sha256: a.User["sha256"], version: a.User["version"]}
}

func (b *blobSource) get(ctx context.Context, key string) (*object, error) {
	r, a, err := b.s.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, notFound("not found"))
	}
	if err != nil {
		return nil, err
	}
	o := fromAttrs(a)
	o.body = r
	return o, nil
}

func (b *blobSource) head(ctx context.Context, key string) (*object, error) {
	a, err := b.s.Head(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, notFound("not found"))
	}
	if err != nil {
		return nil, err
	}
	return fromAttrs(a), nil
}

func (b *blobSource) revalidate(context.Context, string, string) (int, error) {
	return 0, errors.New("conditional GET: HTTP only")
}
