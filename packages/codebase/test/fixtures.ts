/** Small sources whose elements, complexity and relations are counted by hand in the tests. */
export const PYTHON_WORKER = `import os
from .util import helper

LIMIT = 10


class Base:
    pass


class Worker(Base):
    def run(self, items):
        total = 0
        for item in items:
            if item > LIMIT and item % 2 == 0:
                total += helper(item)
            elif item < 0:
                raise ValueError(item)
        return total

    def _name(self):
        # the module's file name
        return os.path.basename(__file__) if __file__ else "worker"


def main():
    try:
        Worker().run([1, 2])
    except ValueError:
        return 1
    return 0
`;

export const GO_SHAPES = `package shapes

import (
	"fmt"
	"strings"
)

// Shape has an area.
type Shape interface {
	Area() float64
}

type Square struct {
	Side float64
}

func (s *Square) Area() float64 {
	return s.Side * s.Side
}

func Classify(n int, verbose bool) string {
	if n < 0 && verbose {
		return fmt.Sprintf("negative %d", n)
	}
	for i := 0; i < n; i++ {
		switch {
		case i%2 == 0:
			continue
		case i > 10 || verbose:
			return "big"
		default:
		}
	}
	return strings.ToUpper("small")
}

func helper() {}
`;
