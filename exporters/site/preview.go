package site

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// Limits of a feed page's preview: the first documents of the feed, at most
// PreviewDocs of them and PreviewBytes in all (the first document is cut at
// PreviewBytes when it alone is larger).
const (
	PreviewDocs  = 20
	PreviewBytes = 4 << 10
)

// Preview is the beginning of a feed as it was exported, kept for its page.
type Preview struct {
	SHA256    string   `json:"sha256"`    // digest of the version the documents are from
	Docs      []string `json:"docs"`      // the first documents as published (JSON text)
	Truncated bool     `json:"truncated"` // the last document is cut (it alone exceeded PreviewBytes)
}

// Capture collects a preview from the documents of an export as they are
// written, copying at most PreviewBytes. Its zero value is ready to use; it
// is not safe for concurrent use.
type Capture struct {
	docs      []string
	size      int
	truncated bool
	full      bool
}

// Add offers the next document; it is copied while the preview has room.
func (c *Capture) Add(doc []byte) {
	if c.full {
		return
	}
	doc = bytes.TrimSpace(doc)
	switch {
	case len(c.docs) >= PreviewDocs:
		c.full = true
	case c.size+len(doc) <= PreviewBytes:
		c.docs = append(c.docs, string(doc))
		c.size += len(doc)
	case len(c.docs) == 0:
		cut := doc[:PreviewBytes]
		for len(cut) > 0 && !utf8.Valid(cut) { // do not split a character
			cut = cut[:len(cut)-1]
		}
		c.docs, c.truncated, c.full = []string{string(cut)}, true, true
	default:
		c.full = true
	}
}

// CaptureOf returns a Capture holding what p holds (a preview captured by
// another process, e.g. a feed's first shard).
func CaptureOf(p *Preview) *Capture {
	return &Capture{docs: append([]string{}, p.Docs...), truncated: p.Truncated, full: true}
}

// Preview returns what was captured, for the version with digest sha256.
func (c *Capture) Preview(sha256 string) *Preview {
	return &Preview{SHA256: sha256, Docs: append([]string{}, c.docs...), Truncated: c.truncated}
}

// previewDataID is the id of the feed page's element that holds its preview
// as JSON, so that a later run can render the page again without the
// documents (see ParsePreview).
const previewDataID = "sqlfeed-preview"

var (
	previewStart = []byte(`<script type="application/json" id="` + previewDataID + `">`)
	previewEnd   = []byte(`</script>`)
)

// previewData encodes p for the page: JSON whose strings escape <, > and &,
// so it cannot end its script element.
func previewData(p *Preview) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // escapes <, >, & in strings
	if err := enc.Encode(p); err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b.Bytes())), nil
}

// ParsePreview returns the preview embedded in a feed page that FeedPageHTML
// rendered, or nil when the page holds none (or is not such a page).
func ParsePreview(page []byte) *Preview {
	_, rest, ok := bytes.Cut(page, previewStart)
	if !ok {
		return nil
	}
	data, _, ok := bytes.Cut(rest, previewEnd)
	if !ok {
		return nil
	}
	var p Preview
	if err := json.Unmarshal(data, &p); err != nil || p.SHA256 == "" {
		return nil
	}
	return &p
}

// member is one key of a previewed object, with its value as JSON text.
type member struct {
	key string
	val json.RawMessage
}

// members returns the keys of a JSON object in their order, or false when doc
// is not one object.
func members(doc string) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		out = append(out, member{key, raw})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return out, true
}

// flatten lists the members of a JSON object with nested objects spread into
// dotted keys (album.title), in document order.
func flatten(prefix, doc string) ([]member, bool) {
	ms, ok := members(doc)
	if !ok {
		return nil, false
	}
	var out []member
	for _, m := range ms {
		if len(m.val) > 0 && m.val[0] == '{' {
			if sub, ok := flatten(prefix+m.key+".", string(m.val)); ok && len(sub) > 0 {
				out = append(out, sub...)
				continue
			}
		}
		out = append(out, member{prefix + m.key, m.val})
	}
	return out, true
}

// cellText shows a JSON value in a table cell: strings without quotes,
// anything else as compact JSON, cut to maxCell characters.
func cellText(raw json.RawMessage) string {
	s := string(raw)
	var str string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &str) == nil {
		s = str
	} else {
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			s = b.String()
		}
	}
	const maxCell = 120
	if utf8.RuneCountInString(s) > maxCell {
		r := []rune(s)
		s = string(r[:maxCell-1]) + "…"
	}
	return s
}

// previewTable lays the preview out as rows × keys (in order of first
// appearance, nested objects spread into dotted keys); documents that are not objects get one "value" column.
type previewTable struct {
	Columns []string
	Rows    [][]string
}

func tableOf(p *Preview) previewTable {
	var t previewTable
	index := map[string]int{}
	var docs [][]member
	for _, d := range p.Docs {
		ms, ok := flatten("", d)
		if !ok {
			ms = []member{{key: "value", val: json.RawMessage(d)}}
		}
		for _, m := range ms {
			if _, seen := index[m.key]; !seen {
				index[m.key] = len(t.Columns)
				t.Columns = append(t.Columns, m.key)
			}
		}
		docs = append(docs, ms)
	}
	for _, ms := range docs {
		row := make([]string, len(t.Columns))
		for _, m := range ms {
			row[index[m.key]] = cellText(m.val)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// previewJSON is the preview as indented JSON text (a cut document as it is).
func previewJSON(p *Preview) string {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, d := range p.Docs {
		var ind bytes.Buffer
		if json.Indent(&ind, []byte(d), "  ", "  ") == nil {
			b.WriteString("  ")
			b.Write(ind.Bytes())
		} else {
			b.WriteString("  " + d + " …")
		}
		if i < len(p.Docs)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]")
	return b.String()
}
