package bucket

import (
	"errors"
	"testing"
)

func TestCheckScheme(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"s3://bkt/rec/", ""},
		{"gs://bkt/rec/", ""},
		{"azblob://c/rec/", ""},
		{"file:///tmp/rec", ""},
		{"rec/", ""},
		{"/abs/rec.parquet", ""},
		{"./ftp://bkt", ""}, // a path, spelled as one
		{`C:/rec`, ""},      // a Windows drive, not a scheme
		{"ftp://bkt/rec/", `ftp://bkt/rec/: unsupported URL scheme "ftp": supported: s3://, gs://, azblob://, file:// (or a local path)`},
		{"gcs://bkt/rec/", `gcs://bkt/rec/: unsupported URL scheme "gcs": supported: s3://, gs://, azblob://, file:// (or a local path)`},
		{"S3://bkt/rec/", `S3://bkt/rec/: unsupported URL scheme "S3": want s3://BUCKET/… (in lower case, with two slashes); supported: s3://, gs://, azblob://, file://`},
		{"s3:/bkt/rec/", `s3:/bkt/rec/: unsupported URL scheme "s3": want s3://BUCKET/… (in lower case, with two slashes); supported: s3://, gs://, azblob://, file://`},
		{"ftp://u:secret@h/x?sig=abc", `ftp://h/x?sig=REDACTED: unsupported URL scheme "ftp": supported: s3://, gs://, azblob://, file:// (or a local path)`},
	} {
		err := CheckScheme(c.in)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckScheme(%q) = %v, want nil", c.in, err)
		case c.want != "" && (!errors.Is(err, ErrScheme) || err.Error() != c.want):
			t.Errorf("CheckScheme(%q) = %v, want %q wrapping ErrScheme", c.in, err, c.want)
		}
	}
}
