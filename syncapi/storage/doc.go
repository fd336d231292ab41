// Package storage holds the sync API's own tables: receipts.
package storage
