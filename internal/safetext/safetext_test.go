package safetext

import "testing"

func TestVisible(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain /v1/models:predict", "plain /v1/models:predict"},
		{"GE\x1b[2JT", `GE\x1b[2JT`},
		{"a\rb\nc\td", `a\rb\nc\td`},
		{"invoice_\u202efdp.exe", `invoice_\u202efdp.exe`},
		{"ad\u200bmin", `ad\u200bmin`},
		{"line\u2028sep\u2029para", `line\u2028sep\u2029para`},
		{"soft\u00adhyphen", `soft\u00adhyphen`},
		{"bad \xff\xfe", "bad \uFFFD"},
		{"über ✓ 日本", "über ✓ 日本"},
		{`back\slash`, `back\slash`},
		{"tag\U000E0041", `tag\U000e0041`},
	} {
		if got := Visible(tc.in); got != tc.want {
			t.Errorf("Visible(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := Clip("abcdef", 4); got != "abc…" {
		t.Errorf("Clip = %q", got)
	}
	if got := Clip("abc", 4); got != "abc" {
		t.Errorf("Clip short = %q", got)
	}
	if got := Clip("a\x1bbcdef", 4); got != `a\x…` {
		t.Errorf("Clip escapes first: %q", got)
	}
}
