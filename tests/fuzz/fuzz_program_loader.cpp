// libFuzzer target: see fuzz_entries.h for what tsp::fuzz::run_program_loader checks.
#include "fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tsp::fuzz::run_program_loader(data, size);
  } catch (const tsp::InputError&) {
    // A rejected input with a message is the expected outcome for most inputs.
  }
  return 0;
}
