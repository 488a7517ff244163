// Command check validates loglake's deployment files with the parsers of
// the tools that consume them, so that none is checked by eye:
//
//	check dockerfile FILE          BuildKit's parser and linter (the rules of
//	                               `docker build --check`) plus the image policy
//	check manifests DIR            strict decoding into the Kubernetes API types
//	                               and cross-references between the objects
//	check metrics -loglake BIN FILE...
//	                               every metric a Grafana dashboard or Prometheus
//	                               rule file names is in a real /metrics scrape
//	                               of a running `loglake run`
//
// It is its own Go module so that the main module does not depend on
// BuildKit, the Kubernetes API or Prometheus' query parser. It prints one
// line per problem and exits 1 if there is any. See docs/deploy.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var problems []string
	var err error
	switch os.Args[1] {
	case "dockerfile":
		if len(os.Args) != 3 {
			usage()
		}
		problems, err = checkDockerfile(os.Args[2])
	case "manifests":
		if len(os.Args) != 3 {
			usage()
		}
		problems, err = checkManifests(os.Args[2])
	case "metrics":
		problems, err = checkMetricsCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "check %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "check %s: %s\n", os.Args[1], p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: check dockerfile FILE | check manifests DIR | check metrics -loglake BIN FILE...")
	os.Exit(2)
}
