package clientapi

// uiaSessions is filled in by the user-interactive auth implementation.
type uiaSessions struct{}

func newUIASessions() *uiaSessions { return &uiaSessions{} }
