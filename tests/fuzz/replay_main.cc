// A main() for the fuzz targets built without libFuzzer (the ASan build):
//
//   foldback_fuzz_replay TARGET DIR|FILE...
//
// replays every file of the given directories (or files) through TARGET's
// entry point, so `./run.sh test` checks each seed corpus under ASan +
// UBSan. Every target lives in this one executable: CMake compiles each
// tests/fuzz/<name>_fuzz.cc with LLVMFuzzerTestOneInput renamed to
// FuzzTarget_<name> and lists the names in fuzz_targets.inc. Fuzzing itself
// uses libFuzzer: tests/fuzz/run_fuzzers.sh.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define FOLDBACK_FUZZ_TARGET(name) extern "C" int FuzzTarget_##name(const uint8_t* data, size_t size);
#include "fuzz_targets.inc"
#undef FOLDBACK_FUZZ_TARGET

namespace {

struct Target {
  const char* name;
  int (*run)(const uint8_t* data, size_t size);
};

#define FOLDBACK_FUZZ_TARGET(name) {#name, FuzzTarget_##name},
constexpr Target kTargets[] = {
#include "fuzz_targets.inc"
};
#undef FOLDBACK_FUZZ_TARGET

}  // namespace

int main(int argc, char** argv) {
  const Target* target = nullptr;
  for (const Target& t : kTargets) {
    if (argc > 1 && std::strcmp(argv[1], t.name) == 0) target = &t;
  }
  if (target == nullptr) {
    std::fprintf(stderr, "usage: %s TARGET DIR|FILE...; targets:", argv[0]);
    for (const Target& t : kTargets) std::fprintf(stderr, " %s", t.name);
    std::fprintf(stderr, "\n");
    return 2;
  }
  size_t replayed = 0;
  for (int i = 2; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i])) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else {
      files.emplace_back(argv[i]);
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      target->run(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      ++replayed;
    }
  }
  std::printf("%s: replayed %zu inputs\n", target->name, replayed);
  return replayed > 0 ? 0 : 1;
}
