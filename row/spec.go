package row

// FieldSpec is one published key of a feed (CONTRACT §3 field spec).
type FieldSpec struct {
	Key      string // published key; dots nest objects
	Column   string // result column it reads
	Type     Kind   // KindAny: from the column type
	OmitNull bool   // leave the key out when the value is NULL
	Scale    int    // fraction digits of a decimal; -1 keeps the database's
	Pos      string // where it was configured, "file:line", for errors
}

// GroupSpec configures the group mapper's nested array.
type GroupSpec struct {
	By     string      // column whose consecutive equal values form one document
	Into   string      // key of the nested array
	Fields []FieldSpec // fields of each nested item
	Pos    string
}

// Spec is what a mapper factory receives: the feed's field specs and options.
type Spec struct {
	Feed    string
	Fields  []FieldSpec
	Group   *GroupSpec
	Options map[string]any
}
