// Package sliding holds the wire format of Simplified Sliding Sync
// (MSC4186, the org.matrix.simplified_msc3575 endpoint that Element X and
// matrix-rust-sdk speak) and the rules that need no storage: parsing and
// validating a request, which state events a required_state asks for,
// which rooms a list's filters keep, and how a sorted list becomes the
// rooms of its ranges. The sync API (syncapi/sliding_sync*.go) loads the
// data and keeps the per-connection state.
package sliding
