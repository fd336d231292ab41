// Package storage is the userapi's SQL: accounts, devices with their
// hashed access tokens, profiles, account data and filters. It is a leaf:
// it knows rows, not Matrix rules, and never imports userapi. Every write
// goes through sqlutil.DB.Write.
package storage
