package fileblob

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// Handler serves the store's objects over HTTP the way a public bucket does:
// GET and HEAD only, each object with the metadata stored with it
// (Content-Type, Content-Encoding, Cache-Control, ETag, x-amz-meta-*), and
// 304 Not Modified for a matching If-None-Match. A path ending in "/" serves
// its index.html. The store's own folder (.sqlfeed) is never served. Bodies
// are sent as stored (a gzip object stays gzip); ranges are not supported.
func Handler(s *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		key := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if key == "" || strings.HasSuffix(r.URL.Path, "/") {
			key = path.Join(key, "index.html")
		} else if !strings.Contains(path.Base(key), ".") {
			// A folder named without its slash: send the browser to it, so
			// relative links in its index.html resolve.
			if _, err := s.Head(r.Context(), key+"/index.html"); err == nil {
				http.Redirect(w, r, "/"+key+"/", http.StatusMovedPermanently)
				return
			}
		}
		serveObject(r.Context(), w, r, s, key)
	})
}

func serveObject(ctx context.Context, w http.ResponseWriter, r *http.Request, s *Store, key string) {
	a, err := s.Head(ctx, key)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) || strings.Contains(err.Error(), "invalid key") {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "cannot read object", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("ETag", a.ETag)
	if a.CacheControl != "" {
		h.Set("Cache-Control", a.CacheControl)
	}
	if !a.ModTime.IsZero() {
		h.Set("Last-Modified", a.ModTime.UTC().Format(http.TimeFormat))
	}
	for k, v := range a.User {
		h.Set("X-Amz-Meta-"+k, v)
	}
	if etagMatch(r.Header.Get("If-None-Match"), a.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	ct := a.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(key))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if a.ContentEncoding != "" {
		h.Set("Content-Encoding", a.ContentEncoding)
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
		w.WriteHeader(http.StatusOK)
		return
	}
	body, got, err := s.Get(ctx, key)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "cannot read object", http.StatusInternalServerError)
		return
	}
	defer body.Close()
	if got.ETag != a.ETag { // replaced between Head and Get: describe what is sent
		h.Set("ETag", got.ETag)
	}
	h.Set("Content-Length", strconv.FormatInt(got.Size, 10))
	w.WriteHeader(http.StatusOK)
	io.Copy(w, body) //nolint:errcheck // the client went away; nothing to tell it
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison, as for GET), or is "*".
func etagMatch(header, etag string) bool {
	if header == "" || etag == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}
