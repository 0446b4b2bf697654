package ctl

import (
	"github.com/spf13/cobra"

	"github.com/phasehost/phasehost/internal/example"
)

func newExampleCmd(env Env) *cobra.Command {
	var parts, detail int
	var outPath string
	cmd := &cobra.Command{
		Use:   "example [--parts N --detail K] [-o FILE]",
		Short: "Write a pipeline input: the bracket example, or a generated assembly",
		Long: `example writes examples/bracket.json's document when called without
--parts, or generates an assembly of N parts whose meshes grow with K.
The output is deterministic for given flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var doc []byte
			var err error
			if parts > 0 {
				doc, err = example.Generate(parts, detail)
			} else {
				doc, err = example.Bracket()
			}
			if err != nil {
				return exit(ExitUsage, "%v", err)
			}
			if outPath == "" || outPath == "-" {
				_, err = env.Stdout.Write(doc)
				return err
			}
			return writeFileAtomic(outPath, doc)
		},
	}
	cmd.Flags().IntVar(&parts, "parts", 0, "number of parts (0: the bracket example)")
	cmd.Flags().IntVar(&detail, "detail", 8, "mesh detail (segments per curved surface)")
	cmd.Flags().StringVarP(&outPath, "output", "o", "-", "output file (- for stdout)")
	return cmd
}
