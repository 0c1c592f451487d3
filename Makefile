# A thin wrapper over CMake so the README's commands are short.
#   make        build (build/recur)
#   make demo   build, train a vanilla RNN on the bundled Shakespeare, sample from it
#   make test   build and run every test
BUILD ?= build
JOBS ?= 2

.PHONY: all build demo test clean

all: build

build:
	@command -v cmake >/dev/null || { echo "cmake is missing: apt-get install build-essential cmake"; exit 1; }
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	$(BUILD)/recur train data/tinyshakespeare.txt --cell rnn --hidden 256 --layers 2 \
	    --epochs 3 --eval-every 500 --sample-every 500 --out shakespeare.safetensors
	$(BUILD)/recur sample shakespeare.safetensors --prime "ROMEO:" --length 600 --temperature 0.8 --seed 1

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

clean:
	rm -rf $(BUILD)
