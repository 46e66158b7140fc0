# A thin wrapper: everything happens in scripts/dev and CMake.
.PHONY: all build test test-asan demo deps clean
all: build
build:
	scripts/dev build
test:
	scripts/dev test
test-asan:
	scripts/dev test-asan
demo:
	scripts/dev demo
deps:
	scripts/dev deps
clean:
	rm -rf build build-asan build-fuzz
