package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
	"github.com/phasehost/phasehost/sdk/go/gen"
)

func newPluginCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Pack, validate, inspect plugins and generate their phase constants",
	}
	cmd.AddCommand(newPackCmd(env), newValidateCmd(env), newInspectCmd(env), newGenCmd(env))
	return cmd
}

// newEngine makes an engine for one command.
func newEngine(env Env, cacheDir string, verbose bool) (*plugin.Engine, error) {
	e, err := plugin.NewEngine(plugin.Options{CacheDir: cacheDir, Logger: logger(env, verbose)})
	if err != nil {
		return nil, exit(ExitUsage, "%v", err)
	}
	return e, nil
}

func newPackCmd(env Env) *cobra.Command {
	var manifestPath, modulePath, outPath, cacheDir string
	cmd := &cobra.Command{
		Use:   "pack --manifest plugin.yaml --module in.wasm -o out.wasm",
		Short: "Embed a manifest (YAML or JSON) into a module and check the result",
		Long: `pack validates the manifest, embeds it as JSON in the module's
"phasehost.manifest" custom section (replacing any there), and checks the result
exactly as the server's loader does. Nothing is written unless the plugin loads.
Exit 0 when written, 1 with one problem per line on stderr when refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mb, err := os.ReadFile(manifestPath)
			if err != nil {
				return exit(ExitUsage, "%v", err)
			}
			wasm, err := os.ReadFile(modulePath)
			if err != nil {
				return exit(ExitUsage, "%v", err)
			}
			m, err := manifest.Parse(mb)
			if err != nil {
				return refused(env, manifestPath, err)
			}
			packed, err := wasmbin.SetCustomSection(wasm, abi.ManifestSection, m.JSON())
			if err != nil {
				return refused(env, modulePath, err)
			}
			e, err := newEngine(env, cacheDir, false)
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			p, err := e.Load(cmd.Context(), packed)
			if err != nil {
				return refused(env, modulePath, err)
			}
			if err := writeFileAtomic(outPath, packed); err != nil {
				return exit(ExitUsage, "%v", err)
			}
			fmt.Fprintf(env.Stdout, "packed %s (%d phases) into %s (%d bytes, sha256 %s)\n", p.Ref(), len(m.Phases), outPath, len(packed), p.SHA256())
			return nil
		},
	}
	cmd.Flags().StringVar(&manifestPath, "manifest", "plugin.yaml", "manifest file (YAML or JSON)")
	cmd.Flags().StringVar(&modulePath, "module", "", "input module (.wasm)")
	cmd.Flags().StringVarP(&outPath, "output", "o", "", "output module (.wasm)")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", env.CacheDir, "compilation cache directory (empty: in memory)")
	_ = cmd.MarkFlagRequired("module")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// refused prints every problem of err, one per line prefixed with the file, and
// returns exit code 1.
func refused(env Env, file string, err error) error {
	var inv *manifest.InvalidError
	if errors.As(err, &inv) {
		fmt.Fprintf(env.Stderr, "%s: %s refused, %d problem(s):\n", file, inv.Subject, len(inv.Problems))
		for _, p := range inv.Problems {
			fmt.Fprintf(env.Stderr, "%s: %s\n", file, p)
		}
		return silentExit(ExitFailed)
	}
	fmt.Fprintf(env.Stderr, "%s: %v\n", file, err)
	return silentExit(ExitFailed)
}

func newValidateCmd(env Env) *cobra.Command {
	var cacheDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate FILE.wasm...",
		Short: "Check modules exactly as the server loads them",
		Long: `validate loads each module the way phasehost does: the manifest section, the
JSON Schema and semantic rules, the ABI v1 imports and exports, and compilation.
Exit 0 when every module loads; 1 otherwise, with one problem per line on
stderr as "FILE: field.path: message".`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := newEngine(env, cacheDir, false)
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(cmd.Context()))
			bad := 0
			type report struct {
				File     string             `json:"file"`
				OK       bool               `json:"ok"`
				Plugin   string             `json:"plugin,omitempty"`
				Problems []manifest.Problem `json:"problems,omitempty"`
			}
			var reports []report
			for _, f := range args {
				b, err := os.ReadFile(f)
				if err != nil {
					return exit(ExitUsage, "%v", err)
				}
				p, err := e.Load(cmd.Context(), b)
				if err != nil {
					bad++
					var inv *manifest.InvalidError
					r := report{File: f}
					if errors.As(err, &inv) {
						r.Problems = inv.Problems
					} else {
						r.Problems = []manifest.Problem{{Message: err.Error()}}
					}
					reports = append(reports, r)
					if !asJSON {
						_ = refused(env, f, err)
					}
					continue
				}
				reports = append(reports, report{File: f, OK: true, Plugin: p.Ref()})
				if !asJSON {
					fmt.Fprintf(env.Stdout, "%s: ok: %s, %d phases\n", f, p.Ref(), len(p.Manifest().Phases))
				}
				_ = p.Close(cmd.Context())
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(reports)
			}
			if bad > 0 {
				return silentExit(ExitFailed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cacheDir, "cache-dir", env.CacheDir, "compilation cache directory (empty: in memory)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON report on stdout instead")
	return cmd
}

func newInspectCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect FILE.wasm",
		Short: "Show a module's manifest, imports, exports and effective limits",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return exit(ExitUsage, "%v", err)
			}
			mod, err := wasmbin.Parse(b)
			if err != nil {
				return refused(env, args[0], err)
			}
			m, err := plugin.ReadManifest(b)
			if err != nil {
				return refused(env, args[0], err)
			}
			type imp struct{ Module, Name string }
			out := struct {
				File     string             `json:"file"`
				Bytes    int                `json:"bytes"`
				Manifest *manifest.Manifest `json:"manifest"`
				Limits   plugin.Limits      `json:"effective_limits"`
				Imports  []string           `json:"imports"`
				Exports  []string           `json:"exports"`
			}{File: args[0], Bytes: len(b), Manifest: m, Limits: plugin.DefaultPolicy().Effective(m.Limits)}
			for _, i := range mod.Imports {
				out.Imports = append(out.Imports, i.Module+"."+i.Name)
			}
			for _, x := range mod.Exports {
				out.Exports = append(out.Exports, x.Name+" ("+wasmbin.KindName(x.Kind)+")")
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	return cmd
}

func newGenCmd(env Env) *cobra.Command {
	var manifestPath, outPath, pkg string
	cmd := &cobra.Command{
		Use:   "gen --manifest plugin.yaml -o phases/phases_gen.go",
		Short: "Write typed Go phase constants from a manifest",
		Long: `gen writes one Go value per declared phase, of a type no other package can
construct: a plugin that names a phase its manifest does not declare does not
compile. Use it with sdk/go:

	//go:generate phasectl plugin gen --manifest ../plugin.yaml -o phases_gen.go`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mb, err := os.ReadFile(manifestPath)
			if err != nil {
				return exit(ExitUsage, "%v", err)
			}
			m, err := manifest.Parse(mb)
			if err != nil {
				return refused(env, manifestPath, err)
			}
			if pkg == "" {
				pkg = "phases"
				if outPath != "" && outPath != "-" {
					abs, _ := filepath.Abs(outPath)
					pkg = strings.ReplaceAll(filepath.Base(filepath.Dir(abs)), "-", "_")
				}
			}
			spec := gen.Spec{Package: pkg, Plugin: m.Name, Version: m.Version, Stage: m.Stage}
			if m.Limits != nil {
				spec.MemoryMB = m.Limits.MemoryMB
			}
			for _, p := range m.Phases {
				spec.Phases = append(spec.Phases, gen.Phase{Name: p.Name, Step: p.Step, MapsTo: p.MapsTo, Description: p.Description})
			}
			src, err := gen.Generate(spec)
			if err != nil {
				return exit(ExitFailed, "%s: %v", manifestPath, err)
			}
			if outPath == "" || outPath == "-" {
				_, err = env.Stdout.Write(src)
				return err
			}
			if err := os.MkdirAll(filepath.Dir(outPath), 0o755); err != nil {
				return exit(ExitUsage, "%v", err)
			}
			return writeFileAtomic(outPath, src)
		},
	}
	cmd.Flags().StringVar(&manifestPath, "manifest", "plugin.yaml", "manifest file (YAML or JSON)")
	cmd.Flags().StringVarP(&outPath, "output", "o", "-", "output file (- for stdout)")
	cmd.Flags().StringVar(&pkg, "package", "", "Go package name (default: the output directory's name)")
	return cmd
}

// writeFileAtomic writes through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
