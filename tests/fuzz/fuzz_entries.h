// The parsers of outside input as the fuzz targets drive them. Each entry either returns (the input
// was accepted and every invariant below holds), throws tsp::InputError (the input was rejected
// with a message), or throws std::logic_error (an invariant broke: a bug). The libFuzzer targets
// treat InputError as a normal outcome; tests/test_fuzz_regressions.cpp replays saved inputs
// through the same entries.
#pragma once

#include "tspsim/common/error.h"
#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/disassembler.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace tsp::fuzz {

// The bundled chips, read once: programs are checked against both.
inline const std::vector<ChipConfig>& bundled_configs() {
  static const std::vector<ChipConfig> configs = {
      load_config(std::string(TSPSIM_SOURCE_DIR) + "/configs/14nm.json"),
      load_config(std::string(TSPSIM_SOURCE_DIR) + "/configs/tiny.json")};
  return configs;
}

inline void require(bool holds, const std::string& what) {
  if (!holds) throw std::logic_error(what);
}

// tspdis promises that its text assembles back to the identical container (the generator field
// aside: the text does not carry it, and tspasm records itself).
inline void check_disassembly_round_trip(const Program& program, const ChipConfig& config) {
  const std::string text = disassemble(program, config);
  Program again;
  try {
    again = assemble(text, program.metadata.source, config);
  } catch (const InputError& e) {
    throw std::logic_error(std::string("tspasm rejects tspdis output: ") + e.what());
  }
  again.metadata.generator = program.metadata.generator;
  again.regions = program.regions; // the text form carries no regions (docs/program-format.md)
  require(serialize_program(again) == serialize_program(program), "tspdis -> tspasm changed the program");
}

// A validated program serialises to bytes that read back to the same program.
inline void check_container_round_trip(const Program& program) {
  const auto bytes = serialize_program(program);
  require(serialize_program(deserialize_program(bytes, "round trip")) == bytes,
          "serialize -> deserialize changed the program");
}

// A program container as tspsim and tspdis read it: deserialised, then validated against each
// bundled chip. The fingerprint is set to each chip's own first, so that the checks behind that
// one comparison are reached whatever chip the input was built for.
inline void run_program_loader(const uint8_t* data, size_t size) {
  Program program = deserialize_program(std::vector<uint8_t>(data, data + size), "fuzz.bin");
  check_container_round_trip(program);
  bool any_valid = false;
  std::string first_error;
  for (const auto& config : bundled_configs()) {
    program.fingerprint = geometry_fingerprint(config);
    try {
      validate_program(program, config, "fuzz.bin");
    } catch (const InputError& e) {
      if (first_error.empty()) first_error = e.what();
      continue;
    }
    any_valid = true;
    check_disassembly_round_trip(program, config);
    // A functional load generates every declared tensor's images: bounded and inside MEM.
    for_each_image(program, [&](const MemImage& image) {
      require(image.bytes.size() % config.geometry.vector_bytes() == 0 &&
                  image.address + image.bytes.size() / config.geometry.vector_bytes() <=
                      config.geometry.mem_words_per_slice,
              "a generated image runs past its slice");
    });
  }
  if (!any_valid) throw InputError(first_error);
}

// Assembly text as tspasm and tspsim read it, for each bundled chip.
inline void run_assembler(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bool any_valid = false;
  std::string first_error;
  for (const auto& config : bundled_configs()) {
    Program program;
    try {
      program = assemble(text, "fuzz.tsp", config);
    } catch (const InputError& e) {
      if (first_error.empty()) first_error = e.what();
      continue;
    }
    any_valid = true;
    try {
      validate_program(program, config);
    } catch (const InputError& e) {
      throw std::logic_error(std::string("assemble() returned a program validate_program rejects: ") +
                             e.what());
    }
    check_container_round_trip(program);
    check_disassembly_round_trip(program, config);
  }
  if (!any_valid) throw InputError(first_error);
}

// A config as tspsim --config FILE --set ... reads it. The input is the JSON text, then each
// --set override after a NUL byte. An accepted config must give a floorplan and must read back
// from its own config_to_json.
inline void run_config(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t text_end = std::min(input.find('\0'), input.size());
  std::vector<std::string> overrides;
  for (size_t at = text_end; at < input.size();) {
    const size_t end = std::min(input.find('\0', at + 1), input.size());
    overrides.push_back(input.substr(at + 1, end - at - 1));
    at = end;
  }
  const ChipConfig config = parse_config(input.substr(0, text_end), "fuzz.json", overrides);
  const Floorplan floorplan(config.geometry, config.icu);
  require(floorplan.mem_count() == config.geometry.mem_slices(),
          "floorplan MEM count differs from the config");
  const auto json = config_to_json(config);
  ChipConfig again;
  try {
    again = parse_config(json.dump(), "round trip");
  } catch (const InputError& e) {
    throw std::logic_error(std::string("config_to_json output is rejected: ") + e.what());
  }
  require(config_to_json(again) == json, "config_to_json -> parse_config changed the config");
  require(geometry_fingerprint(again) == geometry_fingerprint(config), "round trip changed the fingerprint");
}

} // namespace tsp::fuzz
