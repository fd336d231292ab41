package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a size written as bytes or with a unit, as Synapse's
// configs do: 50M, 1G, 512K (powers of 1024).
type ByteSize int64

func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	mult := int64(1)
	switch {
	case strings.HasSuffix(v, "K"), strings.HasSuffix(v, "k"):
		mult = 1 << 10
	case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
		mult = 1 << 20
	case strings.HasSuffix(v, "G"), strings.HasSuffix(v, "g"):
		mult = 1 << 30
	}
	if mult > 1 {
		v = v[:len(v)-1]
	}
	num, err := strconv.ParseInt(v, 10, 64)
	if err != nil || num < 0 || num > (1<<62)/mult {
		return fmt.Errorf("%q is not a size (like 50M)", n.Value)
	}
	*b = ByteSize(num * mult)
	return nil
}
