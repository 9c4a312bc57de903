package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRecordCmd is a placeholder until the record command lands.
func newRecordCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "record",
		Short: "not built yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("record: not built yet")
		},
	}
}
