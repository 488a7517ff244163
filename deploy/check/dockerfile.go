package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
)

// checkDockerfile runs BuildKit's Dockerfile linter, the one behind
// `docker build --check`, on file, then checks the image policy the
// linter does not: several stages, every base image pinned to a tag that
// is not "latest", a final stage that runs as a numeric non-root user, and
// an exec-form ENTRYPOINT.
func checkDockerfile(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var problems []string
	ctx := context.Background()
	// The source map needs a definition; an empty local source is one.
	src := llb.Local("dockerfile")
	def, err := src.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	smap := llb.NewSourceMap(&src, file, "Dockerfile", data)
	smap.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, data, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{},
		SourceMap:    smap,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		problems = append(problems, fmt.Sprintf("%s:%d: %s: %s (%s)", file, line, w.RuleName, w.Detail, w.URL))
	}
	if res.Error != nil {
		problems = append(problems, fmt.Sprintf("%s: %s", file, res.Error.Message))
		return problems, nil
	}

	ast, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for _, w := range ast.Warnings {
		problems = append(problems, fmt.Sprintf("%s: %s", file, w.Short))
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		return nil, err
	}
	args := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				args[kv.Key] = *kv.Value
			}
		}
	}
	return append(problems, imagePolicy(file, stages, args)...), nil
}

func imagePolicy(file string, stages []instructions.Stage, args map[string]string) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, file+": "+fmt.Sprintf(format, a...)) }
	if len(stages) < 2 {
		bad("want a multi-stage build (build tools stay out of the runtime image), found %d stage(s)", len(stages))
	}
	names := map[string]bool{}
	for _, st := range stages {
		base := os.Expand(st.BaseName, func(k string) string { return args[k] })
		switch {
		case names[strings.ToLower(base)]:
			// FROM an earlier stage.
		case base == "scratch":
		case strings.Contains(base, "@sha256:"):
		default:
			name := base[strings.LastIndex(base, "/")+1:]
			_, tag, ok := strings.Cut(name, ":")
			if !ok || tag == "" || tag == "latest" {
				bad("stage %q: base image %q is not pinned to a tag other than latest", st.Name, base)
			}
		}
		if st.Name != "" {
			names[strings.ToLower(st.Name)] = true
		}
	}
	if len(stages) == 0 {
		return problems
	}
	final := stages[len(stages)-1]
	var user string
	var entrypoint *instructions.EntrypointCommand
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entrypoint = c
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	switch {
	case user == "":
		bad("the final stage has no USER: the image would run as root")
	case uid == "0" || uid == "root":
		bad("the final stage runs as root (USER %s)", user)
	case strings.Trim(uid, "0123456789") != "":
		bad("USER %s: use a numeric uid so Kubernetes' runAsNonRoot can verify it", user)
	}
	switch {
	case entrypoint == nil:
		bad("the final stage has no ENTRYPOINT")
	case entrypoint.PrependShell:
		bad("ENTRYPOINT in shell form: signals (SIGTERM drains the daemon) would go to a shell, not loglake")
	}
	return problems
}

// offlineResolver stands in for the registry: the linter asks for each
// base image's configuration, which only matters for platform checks, and
// this check must not need the network.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{}},
	})
	return ref, digest.FromBytes(cfg), cfg, err
}
