package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newReplayCmd is a placeholder until the replay command lands.
func newReplayCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "replay",
		Short: "not built yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("replay: not built yet")
		},
	}
}
