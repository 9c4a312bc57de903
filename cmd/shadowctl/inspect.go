package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newInspectCmd is a placeholder until the inspect command lands.
func newInspectCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect",
		Short: "not built yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("inspect: not built yet")
		},
	}
}
