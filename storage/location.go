package storage

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
)

// ErrCredentials marks a location that carries credentials (a URL
// password or a secret-looking query parameter). Credentials come from each
// cloud's standard chain, never from a URL that ends up in shell history,
// configuration files and logs.
var ErrCredentials = errors.New("credentials must not be in the URL: use the cloud's standard credential chain (environment, profile, workload identity)")

// secretParams are query parameter fragments that mark credentials; they
// are refused by ParseLocation and removed by RedactURL.
var secretParams = []string{"secret", "password", "passwd", "token", "sig", "credential", "access_key", "accesskey", "account_key", "accountkey", "private_key", "privatekey", "api_key", "apikey", "sas"}

func secretParam(name string) bool {
	lk := strings.ToLower(name)
	for _, s := range secretParams {
		if strings.Contains(lk, s) {
			return true
		}
	}
	return false
}

// ParseLocation checks a location as a user wrote it (command line,
// environment or configuration file) and returns the URL to Open. A bare
// path ("./t", "t", "/data/t") and a relative file:// URL ("file://./t",
// "file://t") are local directories, resolved against base ("": the working
// directory). Credentials in the URL are refused with ErrCredentials, and
// every error shows the URL redacted.
func ParseLocation(raw, base string) (string, error) {
	if raw == "" {
		return "", errors.New("empty location: want a path or a URL such as file:///dir or s3://bucket/prefix")
	}
	if !strings.Contains(raw, "://") {
		if strings.Contains(raw, ":") && !filepath.IsAbs(raw) && !strings.HasPrefix(raw, ".") {
			// "s3:bucket", "gs:/b": a mistyped URL, not a file name.
			return "", fmt.Errorf("%q is neither a path nor a URL: want scheme://…", RedactURL(raw))
		}
		return localURL(raw, base)
	}
	if rest, ok := strings.CutPrefix(raw, "file://"); ok && rest != "" && !strings.HasPrefix(rest, "/") {
		// file://./x, file://../x, file://x: relative to base.
		p, query, _ := strings.Cut(rest, "?")
		if query != "" {
			return "", fmt.Errorf("file URL %q takes no query parameters", raw)
		}
		return localURL(p, base)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL", RedactURL(raw))
	}
	if u.User != nil {
		return "", fmt.Errorf("%s: %w", RedactURL(raw), ErrCredentials)
	}
	for k := range u.Query() {
		if secretParam(k) {
			return "", fmt.Errorf("%s: query parameter %q looks like a credential: %w", RedactURL(raw), k, ErrCredentials)
		}
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" || !strings.HasPrefix(u.Path, "/") {
			return "", fmt.Errorf("%q: want file:///absolute/dir, file://./relative/dir or a plain path", raw)
		}
	case "mem", "s3", "gs", "azblob":
		if u.Host == "" {
			return "", fmt.Errorf("%q: missing bucket or container name", raw)
		}
	default:
		return "", fmt.Errorf("unsupported scheme %q: want file, mem, s3, gs or azblob", u.Scheme)
	}
	return raw, nil
}

func localURL(p, base string) (string, error) {
	p = filepath.FromSlash(p)
	if !filepath.IsAbs(p) && base != "" {
		p = filepath.Join(base, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// RedactText returns s with every URL in it redacted (see RedactURL), for
// messages that may quote a location a user typed, such as an error from a
// library that does not know which parts are secret.
func RedactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		end := i + 3
		for end < len(s) && !isURLEnd(s[end]) {
			end++
		}
		b.WriteString(s[:start])
		if start == i || end == i+3 { // no scheme, or a bare "gs://" naming a scheme
			b.WriteString(s[start:end])
		} else {
			b.WriteString(RedactURL(s[start:end]))
		}
		s = s[end:]
	}
}

func isSchemeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

func isURLEnd(c byte) bool {
	return c == ' ' || c == '"' || c == '\'' || c == '`' || c == '\n' || c == '\t' || c == '>' || c == '<' || c == ')'
}

// Overlap reports whether two locations (as returned by ParseLocation)
// share keys: one is the other or lies inside it. A table inside its own
// landing location would ingest its own Parquet files as logs.
func Overlap(a, b string) bool {
	la, ok1 := parseLoc(a)
	lb, ok2 := parseLoc(b)
	if !ok1 || !ok2 || la.store != lb.store {
		return false
	}
	if la.path == "" || lb.path == "" {
		return true // a whole bucket contains everything in it
	}
	return strings.HasPrefix(la.path+"/", lb.path+"/") || strings.HasPrefix(lb.path+"/", la.path+"/")
}

// LocationKey names the storage a location (as returned by ParseLocation)
// points at, whatever its spelling: scheme, bucket, the query parameters
// that choose the store (an S3 endpoint, an Azure storage account) and the
// cleaned path, without a trailing slash or the parameters that only
// change how it is reached (region, path style). Two locations with the
// same key hold the same objects. It is "" for a location that does not
// parse.
func LocationKey(loc string) string {
	l, ok := parseLoc(loc)
	if !ok {
		return ""
	}
	return l.store + "/" + l.path
}

// connectionParams are query parameters that change how a store is
// reached, not which store it is. Any other parameter (endpoint,
// storage_account, …) is part of the store's identity.
var connectionParams = map[string]bool{
	"region": true, "use_path_style": true, "s3ForcePathStyle": true, "awssdk": true,
	"profile": true, "anonymous": true, "dualstack": true, "fips": true, "accelerate": true,
}

// loc is a parsed location: store is scheme, bucket and the identifying
// query; path is cleaned, without leading or trailing slashes.
type loc struct{ store, path string }

func parseLoc(s string) (loc, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return loc{}, false
	}
	host := u.Host
	if u.Scheme == "file" && host == "localhost" {
		host = ""
	}
	store := u.Scheme + "://" + host
	q := u.Query()
	for k := range q {
		if connectionParams[k] {
			q.Del(k)
		}
	}
	if len(q) > 0 {
		store += "?" + q.Encode() // sorted by key
	}
	return loc{store: store, path: strings.Trim(path.Clean("/"+u.Path), "/")}, true
}
