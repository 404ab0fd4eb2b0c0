package check

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// maxExamples is how many invalid documents of one object are described.
const maxExamples = 3

// decoded undoes the Content-Encoding of a body (what an HTTP client does).
func decoded(r io.Reader, encoding string) (io.Reader, error) {
	switch encoding {
	case "", "identity":
		return r, nil
	case "gzip":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("Content-Encoding gzip: %w", err)
		}
		return z, nil
	}
	return nil, fmt.Errorf("unknown Content-Encoding %q", encoding)
}

// schema reads and compiles <feed>/schema.json; nil when it cannot be used
// (the problem is reported, documents are then not validated).
func (c *checker) schema(ctx context.Context, name string, f *Feed) *jsonschema.Schema {
	o, err := c.src.get(ctx, name+"/schema.json")
	if err != nil {
		f.problem("schema.json: %v", err)
		return nil
	}
	if c.src.http() {
		for _, p := range metaProblems(o, typeSchema, "", cacheShort) {
			f.problem("schema.json: %s", p)
		}
	}
	defer o.body.Close()
	r, err := decoded(o.body, o.contentEncoding)
	if err != nil {
		f.problem("schema.json: %v", err)
		return nil
	}
	doc, err := jsonschema.UnmarshalJSON(io.LimitReader(r, smallLimit))
	if err != nil {
		f.problem("schema.json: not JSON: %v", err)
		return nil
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	loc := "sqlfeed:///" + name + "/schema.json"
	if err := comp.AddResource(loc, doc); err != nil {
		f.problem("schema.json: %v", err)
		return nil
	}
	s, err := comp.Compile(loc)
	if err != nil {
		f.problem("schema.json: not a usable JSON Schema: %v", oneLine(err))
		return nil
	}
	return s
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r        io.Reader
	h        hash.Hash
	n, told  int64
	progress func(int64)
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.h.Write(p[:n])
		h.n += int64(n)
		if h.progress != nil && h.n-h.told >= 4<<20 {
			h.progress(h.n - h.told)
			h.told = h.n
		}
	}
	return n, err
}

// scan is what reading one document stream found.
type scan struct {
	rows, bytes int64
	sha256      string
	first, last any // the first and last documents, when asked for
	invalid     int64
	examples    []string
	err         error // the stream is not the format's JSON, or could not be read
}

// scanDocs streams r (uncompressed) through SHA-256 and a JSON decoder: one
// array of documents, or with ndjson one document a line. Each document is
// validated against schema (when not nil); only one is held at a time.
func scanDocs(r io.Reader, ndjson bool, schema *jsonschema.Schema, keepEnds bool, progress func(int64)) scan {
	hr := &hashingReader{r: r, h: sha256.New(), progress: progress}
	var s scan
	dec := json.NewDecoder(hr)
	dec.UseNumber()
	doc := func() bool {
		var v any
		if err := dec.Decode(&v); err != nil {
			if !errors.Is(err, io.EOF) || !ndjson {
				s.err = fmt.Errorf("document %d: %w", s.rows+1, err)
			}
			return false
		}
		s.rows++
		if keepEnds {
			if s.rows == 1 {
				s.first = v
			}
			s.last = v
		}
		if schema != nil {
			if err := schema.Validate(v); err != nil {
				s.invalid++
				if len(s.examples) < maxExamples {
					s.examples = append(s.examples, fmt.Sprintf("document %d: %s", s.rows, oneLine(err)))
				}
			}
		}
		return true
	}
	if ndjson {
		for doc() {
		}
	} else {
		tok, err := dec.Token()
		if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
			s.err = fmt.Errorf("not a JSON array of documents (starts with %v, %v)", tok, err)
		} else {
			for s.err == nil && dec.More() {
				doc()
			}
			if s.err == nil {
				if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
					s.err = fmt.Errorf("after document %d: the array does not end (%v, %v)", s.rows, tok, err)
				} else if _, err := dec.Token(); !errors.Is(err, io.EOF) {
					s.err = fmt.Errorf("data after the array of %d documents", s.rows)
				}
			}
		}
	}
	if _, err := io.Copy(io.Discard, hr); err != nil && s.err == nil {
		s.err = err
	}
	s.bytes, s.sha256 = hr.n, hex.EncodeToString(hr.h.Sum(nil))
	return s
}

// report adds a scan's problems for what (e.g. "latest.json") against the
// expected sha256, rows and bytes.
func (s *scan) report(f *Feed, what, wantSHA string, wantRows, wantBytes int64, against string) {
	if s.err != nil {
		f.problem("%s: %v", what, s.err)
	}
	if s.sha256 != wantSHA {
		f.problem("%s: sha256 %s, %s says %s", what, s.sha256, against, wantSHA)
	}
	if s.err == nil && s.rows != wantRows {
		f.problem("%s: %d documents, %s says %d rows", what, s.rows, against, wantRows)
	}
	if s.bytes != wantBytes {
		f.problem("%s: %d bytes (uncompressed), %s says %d", what, s.bytes, against, wantBytes)
	}
	if s.invalid > 0 {
		f.problem("%s: %d documents do not validate against schema.json: %s", what, s.invalid, strings.Join(s.examples, "; "))
	}
}

func isNDJSON(contentType string) bool {
	return strings.HasPrefix(contentType, typeNDJSON)
}

// progress returns the byte counter of f's reads, or nil.
func (c *checker) progress(f *Feed, total *atomic.Int64) func(int64) {
	if c.opt.Progress == nil {
		return nil
	}
	return func(n int64) { c.opt.Progress(f.Feed, total.Add(n)) }
}

// metaSHA compares x-amz-meta-sha256 and x-amz-meta-version with the manifest.
func metaSHA(f *Feed, what string, o *object, m *manifest) {
	if o.sha256 != "" && o.sha256 != m.SHA256 {
		f.problem("%s: x-amz-meta-sha256 %s, the manifest says %s", what, o.sha256, m.SHA256)
	}
	if o.version != "" && o.version != m.Version {
		f.problem("%s: x-amz-meta-version %s, the manifest's version is %s", what, o.version, m.Version)
	}
}

// revalidate checks that a conditional GET with the ETag answers 304.
func (c *checker) revalidate(ctx context.Context, f *Feed, key string, o *object) {
	if !c.src.http() {
		return
	}
	what := path.Base(key)
	if o.etag == "" {
		f.problem("%s: no ETag, so clients cannot revalidate", what)
		return
	}
	code, err := c.src.revalidate(ctx, key, o.etag)
	switch {
	case err != nil:
		f.problem("%s: conditional GET: %v", what, err)
	case code != 304:
		f.problem("%s: a conditional GET with its ETag (If-None-Match) answered %d, want 304 Not Modified", what, code)
	}
}

// latest checks an unpaged feed's latest.json.
func (c *checker) latest(ctx context.Context, name string, m *manifest, schema *jsonschema.Schema, f *Feed) {
	key := name + "/latest.json"
	o, err := c.src.get(ctx, key)
	if err != nil {
		f.problem("latest.json: %v", err)
		return
	}
	defer o.body.Close()
	ct := m.ContentType
	if c.src.http() {
		for _, p := range metaProblems(o, ct, httpEncoding(m.ContentEncoding), cacheShort) {
			f.problem("latest.json: %s", p)
		}
	}
	metaSHA(f, "latest.json", o, m)
	r, err := decoded(o.body, o.contentEncoding)
	if err != nil {
		f.problem("latest.json: %v", err)
		return
	}
	var total atomic.Int64
	s := scanDocs(r, isNDJSON(ct), schema, false, c.progress(f, &total))
	s.report(f, "latest.json", m.SHA256, m.Rows, m.Bytes, "the manifest")
	o.body.Close()
	c.revalidate(ctx, f, key, o)
}

// paged checks a paged feed: its page index and every page.
func (c *checker) paged(ctx context.Context, name string, m *manifest, schema *jsonschema.Schema, f *Feed) {
	key := name + "/latest.json"
	o, err := c.src.get(ctx, key)
	if err != nil {
		f.problem("latest.json: %v", err)
		return
	}
	if c.src.http() {
		for _, p := range metaProblems(o, typeJSON, "", cacheShort) {
			f.problem("latest.json (page index): %s", p)
		}
	}
	metaSHA(f, "latest.json", o, m)
	var idx pageIndex
	if err := readJSON(o, &idx); err != nil {
		f.problem("latest.json (page index): %v", err)
		return
	}
	f.Pages = len(idx.Pages)
	if idx.Feed != name || idx.Version != m.Version {
		f.problem("latest.json (page index) is feed %q version %s, the manifest's is %s", idx.Feed, idx.Version, m.Version)
	}
	if idx.SHA256 != m.SHA256 || idx.Rows != m.Rows || idx.Bytes != m.Bytes {
		f.problem("latest.json (page index): sha256 %s, %d rows, %d bytes; the manifest says %s, %d, %d",
			idx.SHA256, idx.Rows, idx.Bytes, m.SHA256, m.Rows, m.Bytes)
	}
	var digest bytes.Buffer
	var rows, size int64
	for _, p := range idx.Pages {
		digest.WriteString(strings.ToLower(p.SHA256) + "\n")
		rows += p.Rows
		size += p.Bytes
	}
	if sum := sha256.Sum256(digest.Bytes()); hex.EncodeToString(sum[:]) != idx.SHA256 {
		f.problem("latest.json (page index): sha256 %s is not the digest of its pages' sha256s (%s)", idx.SHA256, hex.EncodeToString(sum[:]))
	}
	if rows != idx.Rows || size != idx.Bytes {
		f.problem("latest.json (page index): its pages add up to %d rows, %d bytes, it says %d, %d", rows, size, idx.Rows, idx.Bytes)
	}

	var total atomic.Int64
	cands := make([]map[string]bool, len(idx.Pages))
	var wg sync.WaitGroup
	for i, p := range idx.Pages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.pages <- struct{}{}
			defer func() { <-c.pages }()
			cands[i] = c.page(ctx, name, &idx, p, schema, f, &total)
		}()
	}
	wg.Wait()
	// The key the pages' first/last name: one top-level field of every page.
	var common map[string]bool
	for _, cs := range cands {
		if cs == nil {
			continue // not read, or already reported
		}
		if common == nil {
			common = cs
			continue
		}
		for k := range common {
			if !cs[k] {
				delete(common, k)
			}
		}
	}
	if common != nil && len(common) == 0 {
		f.problem("latest.json (page index): no one field of the documents holds every page's first and last values")
	}
	c.revalidate(ctx, f, key, o)
}

// page checks one page against its entry in the index; it returns the
// document fields whose values are the page's first and last (nil when the
// page could not be read).
func (c *checker) page(ctx context.Context, name string, idx *pageIndex, p page, schema *jsonschema.Schema, f *Feed, total *atomic.Int64) map[string]bool {
	key := path.Clean(name + "/" + p.URL)
	what := "page " + p.URL
	if path.IsAbs(p.URL) || strings.Contains(p.URL, "://") || !strings.HasPrefix(key, name+"/") {
		f.problem("%s: not a URL relative to the feed's folder", what)
		return nil
	}
	o, err := c.src.get(ctx, key)
	if err != nil {
		f.problem("%s: %v", what, err)
		return nil
	}
	defer o.body.Close()
	if c.src.http() {
		for _, pr := range metaProblems(o, idx.ContentType, httpEncoding(idx.ContentEncoding), cacheImmutable) {
			f.problem("%s: %s", what, pr)
		}
	}
	if o.sha256 != "" && o.sha256 != p.SHA256 {
		f.problem("%s: x-amz-meta-sha256 %s, the page index says %s", what, o.sha256, p.SHA256)
	}
	r, err := decoded(o.body, o.contentEncoding)
	if err != nil {
		f.problem("%s: %v", what, err)
		return nil
	}
	s := scanDocs(r, isNDJSON(idx.ContentType), schema, true, c.progress(f, total))
	s.report(f, what, p.SHA256, p.Rows, p.Bytes, "the page index")
	if s.err != nil || s.rows == 0 {
		return nil
	}
	first, last := canonical(p.First), canonical(p.Last)
	ff, lf := flatten(s.first), flatten(s.last)
	out := map[string]bool{}
	for k, v := range ff {
		if v == first && lf[k] == last {
			out[k] = true
		}
	}
	if len(out) == 0 {
		f.problem("%s: first %s / last %s are not the values of one field of its first and last documents", what, p.First, p.Last)
		return nil
	}
	return out
}

// canonical is the JSON text of a value re-encoded, so equal values compare equal.
func canonical(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "\x00invalid"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// flatten maps the dotted paths of a document's scalar fields (through nested
// objects, not arrays) to their canonical JSON text.
func flatten(doc any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x[k])
			}
		case []any:
		default:
			if prefix != "" {
				b, _ := json.Marshal(x)
				out[prefix] = string(b)
			}
		}
	}
	walk("", doc)
	return out
}
