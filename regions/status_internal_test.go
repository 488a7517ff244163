package regions

import (
	"strings"
	"testing"
)

// Two region configs of one name egressing different regional tables into
// one central table write one stream: the second's rows were skipped while
// status showed both at lag 0. Their lag is unknown now, with the clash as
// their error; a third region of its own name keeps its lag.
func TestSharedStreamsFlagged(t *testing.T) {
	parse := func(name, table, central string) *Config {
		c, err := Parse([]byte("name: "+name+"\nlanding: file:///l/"+table+"\ntable: file:///t/"+table+"\ncentral: "+central+"\n"), "r.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cfgs := []*Config{parse("eu-west", "a", "file:///c"), parse("eu-west", "b", "file:///c/"), parse("us-east", "c", "file:///c")}
	zero := int64(0)
	sts := make([]RegionStatus, len(cfgs))
	for i := range sts {
		sts[i].Egress = &EgressStatus{LagVersions: &zero}
	}
	sharedStreams(cfgs, sts)
	for i, st := range sts[:2] {
		if !strings.Contains(st.Error, `also named "eu-west"`) || st.Egress.LagVersions != nil {
			t.Errorf("region %d: error %q, lag %v: want the clash and an unknown lag", i, st.Error, st.Egress.LagVersions)
		}
	}
	if st := sts[2]; st.Error != "" || st.Egress.LagVersions == nil {
		t.Errorf("region of its own name: error %q, lag %v", st.Error, st.Egress.LagVersions)
	}
}
