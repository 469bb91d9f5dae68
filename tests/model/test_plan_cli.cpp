// `tspc plan` as a user runs it: options in any order, the plan printed, exit 1 when the model does
// not fit on the chips given, exit 2 and one line for bad input.
#include "cli_harness.h"

#include <catch2/catch.hpp>

using tsp::test::run_tool;
using tsp::test::source;

namespace {

const std::string kConfig = " --config " + source("configs/14nm.json");
std::string model(const std::string& name) {
  return " --model " + source("configs/models/" + name + ".json");
}

} // namespace

TEST_CASE("tspc plan prints the minimum chip count and each stage's SRAM") {
  const auto r = run_tool("tspc", kConfig.substr(1) + " plan" + model("llama2-7b") + " --context 2048");
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.rfind(
            "llama2-7b on groq-tsp-gen1-14nm, context 2048: weights int8, activations fp16, KV cache fp16; "
            "220.0 MiB SRAM per chip\nchips 48 = 6 pipeline stages x 8-way tensor parallel: fits\n",
            0) == 0);
  CHECK(
      r.out.find("\nhalf-layer stages (whole layers do not fit, or leave a stage empty): a layer's attention "
                 "and MLP blocks may be on consecutive stages, the residual handed off between them\n") !=
      std::string::npos);
  CHECK(r.out.find(
            "\n2        layer 10 MLP - layer 15               136.8      0.4     20.0     50.7      0.1      "
            "1.2      5.0    214.1      5.9\n") != std::string::npos);
}

TEST_CASE("tspc plan for Llama-2 70B at context 4096: 432 chips and each chip's share of the model") {
  const auto r = run_tool("tspc", "plan" + model("llama2-70b") + kConfig + " --context 4096");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(
            "\nchips 432 = 54 pipeline stages x 8-way tensor parallel: fits\nper chip: 8 of 64 query heads, "
            "1 of 8 KV heads, 3584 of 28672 ffn columns; embedding 4000 of 32000 vocabulary rows (first "
            "stage); LM head 4000 of 32000 vocabulary columns (last stage)\n") != std::string::npos);
  CHECK(r.out.find(
            "\n0        layer 0, embedding                    133.2      0.2      2.0     19.6      0.3      "
            "0.7      5.0    161.1     58.9\n") != std::string::npos);
}

TEST_CASE("tspc plan --system plans for exactly the system's chips, as tspc llama --system does") {
  auto r = run_tool("tspc", "plan --system " + source("configs/systems/dragonfly8.json") +
                                model("llama2-70b") + " --context 4096");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\nchips 576 = 72 pipeline stages x 8-way tensor parallel: fits\n") != std::string::npos);
  r = run_tool("tspc", "plan" + model("llama2-70b") + " --context 4096 --system " +
                           source("configs/systems/rack72.json"));
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("\nchips 72 = 9 pipeline stages x 8-way tensor parallel: does NOT fit\n") !=
        std::string::npos);
  r = run_tool("tspc", "plan --chips 8 --system " + source("configs/systems/rack72.json") +
                           model("llama2-70b") + " --context 4096");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: plan: --chips and --system both give the chips: give one\n");
}

TEST_CASE("tspc plan with too few chips says what does not fit and exits 1") {
  const auto r = run_tool("tspc", "plan --chips 424" + model("llama2-70b") + " --context 4096" + kConfig);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("chips 424 = 53 pipeline stages x 8-way tensor parallel: does NOT fit\n") !=
        std::string::npos);
  CHECK(r.out.find("\ndoes not fit: half-layer stages: no deal of the 160 attention and MLP blocks over 53 "
                   "stages fits either\n") != std::string::npos);
  CHECK(r.out.find("\ndoes not fit: stages 1-27 (2 layers each): needs 250.6 MiB per chip, has 220.0 MiB: "
                   "30.6 MiB (") != std::string::npos);
}

TEST_CASE("tspc plan input errors exit 2 with one line") {
  auto r = run_tool("tspc", "plan --context 4096" + kConfig);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: plan: --model is required\n");
  r = run_tool("tspc", "plan" + model("llama2-7b") + kConfig);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: plan: --context is required (KV-cache positions, at least 1)\n");
  r = run_tool("tspc", "plan" + model("llama2-7b") + " --context 4096");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --config is required\n");
  r = run_tool("tspc", "plan --model nosuch.json --context 4096" + kConfig);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: cannot read 'nosuch.json': No such file or directory\n");
  r = run_tool("tspc", "plan" + model("llama2-7b") + " --context 4096 --chips 3" + kConfig);
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("error: --chips: expected 1, 2, 4, 8, or a multiple of 8 up to 272", 0) == 0);
  r = run_tool("tspc", "plan" + model("llama2-7b") + " --context many" + kConfig);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
}
