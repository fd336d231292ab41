package mediaapi

import "path/filepath"

// ContentFile is where, below media_store_path, the file with this
// SHA-256 (hex) lives: two levels of directories keep each small. The
// user export of the command line reads files there (userexport).
func ContentFile(sum string) string {
	return filepath.Join("content", sum[:2], sum[2:4], sum)
}
