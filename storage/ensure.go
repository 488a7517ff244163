package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	gcs "cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"google.golang.org/api/googleapi"
)

// EnsureBucket creates the bucket (S3, GCS) or container (Azure) that
// rawURL points into, or the directory for file://, if it does not exist
// yet. It is meant for test harnesses, emulators and demos; production
// buckets are normally provisioned elsewhere. Creating a GCS bucket needs a
// project: GOOGLE_CLOUD_PROJECT, or "loglake" against an emulator.
func EnsureBucket(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return newError("EnsureBucket", "", ErrPermanent, err)
	}
	switch u.Scheme {
	case "file":
		b, err := openFile(u)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(b.(*fileBucket).root, 0o755); err != nil {
			return classifyOS(ctx, "EnsureBucket", "", err)
		}
		return b.Close()
	case "mem":
		return nil
	case "s3", "gs", "azblob":
	default:
		return newError("EnsureBucket", "", ErrPermanent, fmt.Errorf("unsupported URL scheme %q", u.Scheme))
	}
	rootURL := *u
	rootURL.Path, rootURL.RawPath = "", ""
	b, err := openCloudRoot(ctx, &rootURL)
	if err != nil {
		return newError("EnsureBucket", "", ErrPermanent, err)
	}
	defer b.Close()
	switch u.Scheme {
	case "s3":
		var c *s3.Client
		if !b.As(&c) {
			return newError("EnsureBucket", "", ErrPermanent, errors.New("no S3 client"))
		}
		err = ensureS3(ctx, c, u.Host)
	case "gs":
		var c *gcs.Client
		if !b.As(&c) {
			return newError("EnsureBucket", "", ErrPermanent, errors.New("no GCS client"))
		}
		err = ensureGCS(ctx, c, u.Host)
	case "azblob":
		var c *container.Client
		if !b.As(&c) {
			return newError("EnsureBucket", "", ErrPermanent, errors.New("no Azure container client"))
		}
		_, err = c.Create(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			err = nil
		}
	}
	if err != nil {
		return classifyBlob(ctx, "EnsureBucket", "", err, false)
	}
	return nil
}

func ensureS3(ctx context.Context, c *s3.Client, name string) error {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err == nil {
		return nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region := c.Options().Region; region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(region),
		}
	}
	_, err := c.CreateBucket(ctx, in)
	var owned *s3types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return nil
	}
	return err
}

func ensureGCS(ctx context.Context, c *gcs.Client, name string) error {
	bh := c.Bucket(name)
	if _, err := bh.Attrs(ctx); err == nil {
		return nil
	} else if !errors.Is(err, gcs.ErrBucketNotExist) {
		return err
	}
	project := os.Getenv("GOOGLE_CLOUD_PROJECT")
	if project == "" && os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		project = "loglake"
	}
	if project == "" {
		return errors.New("creating a GCS bucket needs GOOGLE_CLOUD_PROJECT")
	}
	err := bh.Create(ctx, project, nil)
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusConflict {
		return nil // created meanwhile
	}
	return err
}
