package lru

import (
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	c := New[int, string](2)
	c.Add(1, "a")
	c.Add(2, "b")
	if v, ok := c.Get(1); !ok || v != "a" { // 1 is now the most recent
		t.Fatalf("Get(1) = %q, %v", v, ok)
	}
	c.Add(3, "c") // forgets 2, the least recently used
	tests := []struct {
		key  int
		want string
		ok   bool
	}{{1, "a", true}, {2, "", false}, {3, "c", true}}
	for _, tc := range tests {
		if v, ok := c.Get(tc.key); v != tc.want || ok != tc.ok {
			t.Errorf("Get(%d) = %q, %v; want %q, %v", tc.key, v, ok, tc.want, tc.ok)
		}
	}
	c.Add(3, "C")
	if v, _ := c.Get(3); v != "C" || c.Len() != 2 {
		t.Errorf("replacing: %q, len %d", v, c.Len())
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := New[int, int](10)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.Add(i%20, i)
				c.Get((i + g) % 20)
			}
		}(g)
	}
	wg.Wait()
	if c.Len() != 10 {
		t.Errorf("len %d, want 10", c.Len())
	}
}
