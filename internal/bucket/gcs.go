package bucket

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"

	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2/google"
)

// ErrNoCredentials is wrapped by the error of a gs:// bucket opened where
// Google Cloud's default credentials cannot be found.
var ErrNoCredentials = errors.New("no Google Cloud credentials")

// findCredentials is gcp.DefaultCredentials; tests replace it.
var findCredentials = func(ctx context.Context, params google.CredentialsParams) error {
	_, err := gcp.DefaultCredentialsWithParams(ctx, params)
	return err
}

// checkGCSCredentials looks for the credentials gocloud's gs:// opener
// would use, before it does: without them it prints a warning on standard
// output (where a JSON report goes) and then fails with an error about a
// private key. A URL that asks for no credentials (anonymous=true or
// access_id=-) and an emulator (STORAGE_EMULATOR_HOST) need none.
func checkGCSCredentials(ctx context.Context, bucketURL string) error {
	u, err := url.Parse(bucketURL)
	if err != nil || u.Scheme != "gs" {
		return nil
	}
	q := u.Query()
	if q.Get("anonymous") == "true" || q.Get("access_id") == "-" ||
		os.Getenv("STORAGE_EMULATOR_HOST") != "" || os.Getenv("STORAGE_EMULATOR_HOST_GRPC") != "" {
		return nil
	}
	if err := findCredentials(ctx, google.CredentialsParams{UniverseDomain: q.Get("universe_domain")}); err != nil {
		return fmt.Errorf("%w (%v): set GOOGLE_APPLICATION_CREDENTIALS to a key file or run "+
			"'gcloud auth application-default login'; a public bucket reads with ?anonymous=true", ErrNoCredentials, err)
	}
	return nil
}

// openGCSAnonymous opens a gs:// bucket whose URL asks for no credentials
// (anonymous=true or access_id=-) with an anonymous client of its own;
// ok is false for any other URL. gocloud's own gs:// opener looks for the
// default credentials first whatever the URL says, and without them
// prints a warning on standard output, where a JSON report goes.
func openGCSAnonymous(ctx context.Context, bucketURL string) (b *blob.Bucket, ok bool, err error) {
	u, err := url.Parse(bucketURL)
	if err != nil || u.Scheme != "gs" {
		return nil, false, nil
	}
	q := u.Query()
	if q.Get("anonymous") != "true" && q.Get("access_id") != "-" {
		return nil, false, nil
	}
	if os.Getenv("STORAGE_EMULATOR_HOST") != "" || os.Getenv("STORAGE_EMULATOR_HOST_GRPC") != "" {
		return nil, false, nil // gocloud's opener takes care of an emulator
	}
	o := &gcsblob.URLOpener{Client: gcp.NewAnonymousHTTPClient(gcp.DefaultTransport())}
	b, err = o.OpenBucketURL(ctx, u)
	return b, true, err
}
