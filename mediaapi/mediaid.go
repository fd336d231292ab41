package mediaapi

// maxMediaIDLength bounds a media id; ours are 24 characters.
const maxMediaIDLength = 255

// ValidMediaID tells whether id may be the media id of an mxc URI: only
// A-Z, a-z, 0-9, "_" and "-", as the spec demands of homeservers
// (content repository, security considerations). Every media id from a
// request is checked before it reaches storage, a file path or another
// server, so no encoding trick makes one mean a path.
func ValidMediaID(id string) bool {
	if id == "" || len(id) > maxMediaIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
