// The capacity planner: exact budgets for the tiny model (derived by hand below) and for Llama-2
// 7B (from the formulas of docs/models.md, written out again here), the minimum chip count, and
// what it says when a chip count is too small.
#include "tspsim/common/error.h"
#include "tspsim/config/config.h"
#include "tspsim/model/plan.h"

#include <catch2/catch.hpp>

using Catch::Matchers::Message;
using tsp::InputError;
using tsp::model::ChipBudget;
using tsp::model::plan_model;

namespace {

const std::string kSource = TSPSIM_SOURCE_DIR;

tsp::model::ModelConfig model(const std::string& name) {
  return tsp::model::load_model(kSource + "/configs/models/" + name + ".json");
}
tsp::ChipConfig chip() { return tsp::load_config(kSource + "/configs/14nm.json"); }

uint64_t up(uint64_t x) { return (x + 319) / 320 * 320; }

// Llama-2 7B (int8 weights, fp16 KV and norms) on one chip of an 8-way stage of `layers` layers:
// per chip 4 query heads and 4 KV heads of 128 (512 columns each), 1376 ffn columns. Each
// projection is its own matrix of whole 320 x 320 tiles, as tspc places them.
ChipBudget llama2_7b_stage(uint64_t layers, bool embedding, bool lm_head, uint64_t context) {
  ChipBudget b;
  const uint64_t d = 4096, q = 512, kv = 512, f = 1376;
  struct Matrix {
    uint64_t k, n;
  };
  const Matrix per_layer[] = {{d, q}, {d, kv}, {d, kv}, {q, d}, {d, f}, {d, f}, {f, d}};
  uint64_t tiles = 0;
  for (const auto& m : per_layer) {
    b.weights += layers * m.k * m.n;
    b.scales += layers * m.n * 4;
    b.padding += layers * (up(m.k) * up(m.n) - m.k * m.n + (up(m.n) - m.n) * 4);
    tiles += up(m.k) / 320 * (up(m.n) / 320);
  }
  b.norms = layers * 2 * d * 2; // 4096 = 12.8 vectors: padded to 4160
  b.padding += layers * 2 * (up(d) - d) * 2;
  b.kv_cache = layers * 2 * kv * context * 2;
  // As tspc lays out the cache in 16 MEM slices (8 groups of 2 fp16 bytes) per tensor, one word
  // being 320 bytes: K^T in tiles of 320 positions, each of 3 x 128 + 320 = 704 rows (the last
  // head's LW reads a whole tile), 88 words per slice; V a tensor per head of up(context) rows.
  const uint64_t cache_words = up(context) / 320 * (704 / 8) * 16 + 4 * (up(context) / 8) * 16;
  b.padding += layers * (cache_words * 320 - 2 * kv * context * 2);
  uint64_t instructions = layers * (51 * tiles + 3600 + 3 * context + 4000);
  if (embedding) { // 4000 of the 32000 vocabulary rows x 4096, one scale per column
    b.weights += 4000 * d;
    b.scales += d * 4;
    b.padding += up(4000) * up(d) - 4000 * d + (up(d) - d) * 4;
    instructions += 51 * (up(4000) / 320) * (up(d) / 320);
  }
  if (lm_head) {
    b.weights += d * 4000;
    b.scales += 4000 * 4;
    b.norms += d * 2;
    b.padding += up(d) * up(4000) - d * 4000 + (up(4000) - 4000) * 4 + (up(d) - d) * 2;
    instructions += 51 * (up(d) / 320) * (up(4000) / 320);
  }
  b.program_text = instructions * 8;
  b.activations =
      (4 * up(d) + up(q + 2 * kv) + 4 * up(context) + up(q) + up(3 * f) + (lm_head ? up(4000) : 0)) * 4;
  b.reserve = 2 * 8192 * 320;
  return b;
}

void check_budget(const ChipBudget& got, const ChipBudget& want) {
  CHECK(got.weights == want.weights);
  CHECK(got.scales == want.scales);
  CHECK(got.norms == want.norms);
  CHECK(got.kv_cache == want.kv_cache);
  CHECK(got.padding == want.padding);
  CHECK(got.activations == want.activations);
  CHECK(got.program_text == want.program_text);
  CHECK(got.reserve == want.reserve);
}

} // namespace

TEST_CASE("the tiny model at context 256 fits on one chip, byte for byte as derived by hand") {
  const auto plan = plan_model(model("tiny-llama"), chip(), {256});
  REQUIRE(plan.fits);
  CHECK(plan.chips() == 1);
  CHECK(plan.sram_bytes == 220ull << 20);
  const auto& p = plan.partition;
  CHECK((p.heads == 4 && p.kv_heads == 2 && p.ffn == 864 && p.vocab == 512));
  REQUIRE(plan.stages.size() == 1);
  const auto& s = plan.stages[0];
  CHECK((s.first_layer == 0 && s.layers == 2 && s.embedding && s.lm_head));
  ChipBudget want;
  // Per layer, int8 matrices K x N stored as whole 320 x 320 tiles: Q and O 320 x 320 (exact), K and
  // V 320 x 160 (stored 320 x 320), gate and up 320 x 864 (stored 320 x 960), down 864 x 320
  // (stored 960 x 320). Two layers, plus the embedding 512 x 320 (its 512 vocabulary rows, stored
  // 640 x 320) and the LM head 320 x 512 (stored 320 x 640).
  want.weights = 2 * (204800 + 102400 + 552960 + 276480) + 163840 + 163840;
  // fp32 scale per output column: 640 + 320 + 1728 + 320 per layer, 320 embedding, 512 LM head.
  want.scales = 2 * (640 + 320 + 1728 + 320) * 4 + 320 * 4 + 512 * 4;
  want.norms = (2 * 2 + 1) * 320 * 2; // fp16 gains
  // 2 KV heads x 80 = 160 columns x 256 positions, keys and values, fp16.
  want.kv_cache = 2 * 2 * 160 * 256 * 2;
  // Per layer: K and V 51200 each + their scales 640 each, gate and up 30720 each + their scales
  // 384 each, down 30720; the cache as tspc lays it out, 16 slices per tensor (8 groups of 2
  // bytes): one K^T tile of max(160, 80 + 320) = 400 rows, 50 words per slice, and 2 V heads of
  // 320 rows, 40 words per slice: (800 + 2 x 640) words of 320 bytes, less its 163840 bytes.
  // Embedding: 40960. LM head: 40960 and 512 (scales).
  want.padding = 2 * (2 * (51200 + 640) + 2 * (30720 + 384) + 30720 + (800 + 2 * 640) * 320 - 163840) +
                 40960 + 40960 + 512;
  // fp32 vectors: residual, normed, O and down sums (4 x 320), QKV 640, scores 4 x 320, attention
  // output 320, gate/up/SwiGLU 2592 -> 2880, logits 512 -> 640.
  want.activations = (4 * 320 + 640 + 4 * 320 + 320 + 2880 + 640) * 4;
  // 13 tiles per layer, 2 for the embedding, 2 for the LM head: 2 x (51 x 13 + 3600 + 3 x 256 + 4000)
  // + 51 x 4 instructions.
  want.program_text = (2 * (51 * 13 + 3600 + 3 * 256 + 4000) + 51 * 4) * 8;
  want.reserve = 2 * 8192 * 320; // one MEM slice per hemisphere
  check_budget(s.budget, want);
  CHECK(s.budget.total() == 9855568);
}

TEST_CASE("Llama-2 7B int8 at 4k context needs 64 chips: 8 stages of 8") {
  const auto m = model("llama2-7b");
  const auto plan = plan_model(m, chip(), {4096});
  REQUIRE(plan.fits);
  CHECK(plan.chips() == 64);
  const auto& p = plan.partition;
  CHECK((p.tensor_parallel == 8 && p.pipeline_stages == 8));
  CHECK((p.heads == 4 && p.kv_heads == 4 && p.ffn == 1376 && p.vocab == 4000));
  REQUIRE(plan.stages.size() == 8);
  for (size_t i = 0; i < 8; ++i) {
    INFO("stage " << i);
    const auto& s = plan.stages[i];
    CHECK(s.first_layer == 4 * i);
    CHECK(s.layers == 4);
    check_budget(s.budget, llama2_7b_stage(4, i == 0, i == 7, 4096));
    CHECK(s.budget.total() <= plan.sram_bytes);
  }
  CHECK(plan.fullest().layers == 4);
  // The largest stage holds 5 layers at most, so 7 stages (32 layers) cannot fit: 64 is the minimum.
  CHECK(llama2_7b_stage(5, false, false, 4096).total() > plan.sram_bytes);
  const auto seven = plan_model(m, chip(), {4096, 56});
  CHECK_FALSE(seven.fits);
}

TEST_CASE("Llama-2 7B at 2k context needs 56 chips") {
  const auto plan = plan_model(model("llama2-7b"), chip(), {2048});
  REQUIRE(plan.fits);
  CHECK(plan.chips() == 56);
  REQUIRE(plan.stages.size() == 7);
  check_budget(plan.stages[1].budget, llama2_7b_stage(5, false, false, 2048));
}

TEST_CASE("too few chips: the planner says which stages overflow and by how much") {
  const auto plan = plan_model(model("llama2-70b"), chip(), {4096, 576});
  CHECK_FALSE(plan.fits);
  CHECK(plan.chips() == 576);
  REQUIRE(plan.stages.size() == 72);
  CHECK(plan.stages[1].layers == 2);
  const uint64_t over = plan.stages[1].budget.total() - plan.sram_bytes;
  REQUIRE(plan.shortfalls.size() == 1);
  CHECK(plan.shortfalls[0] ==
        "stages 1-8 (2 layers each): needs 250.6 MiB per chip, has 220.0 MiB: 30.6 MiB (" +
            std::to_string(over) +
            " bytes) over; weights 204.0, scales and norms 0.3, KV cache 4.0, padding 35.8, activations 0.3, "
            "program text 1.2, reserve 5.0 MiB");
  // Without the tile padding, the two-layer stages would fit.
  CHECK(plan.stages[1].budget.total() - plan.stages[1].budget.padding <= plan.sram_bytes);
}

TEST_CASE("Llama-2 70B and Llama-3 70B minimum chip counts") {
  const auto l2 = plan_model(model("llama2-70b"), chip(), {4096});
  CHECK(l2.chips() == 640);
  CHECK(l2.stages[1].layers == 1);
  // Llama-3's 128,256-entry embedding does not share a chip with a layer: stages of their own.
  const auto l3 = plan_model(model("llama3-70b"), chip(), {4096});
  CHECK(l3.chips() == 656);
  CHECK(l3.stages.front().layers == 0);
  CHECK(l3.stages.back().layers == 0);
}

TEST_CASE("planner input errors") {
  const auto m = model("llama2-7b");
  REQUIRE_THROWS_MATCHES(plan_model(m, chip(), {8192}), InputError,
                         Message("--context: expected 1..4096 (max_context of " + kSource +
                                 "/configs/models/llama2-7b.json), got 8192"));
  REQUIRE_THROWS_MATCHES(
      plan_model(m, chip(), {4096, 12}), InputError,
      Message(
          "--chips: expected 1, 2, 4, 8, or a multiple of 8 up to 272 (8-way tensor parallel stages: one per "
          "layer of llama2-7b's 32, plus the embedding and the LM head), got 12"));
  // The tiny model's 4 heads allow at most 4-way tensor parallelism; stages are then 4 chips.
  const auto tiny = plan_model(model("tiny-llama"), chip(), {256, 8});
  CHECK((tiny.partition.tensor_parallel == 4 && tiny.partition.pipeline_stages == 2 && tiny.fits));
  CHECK((tiny.partition.kv_heads == 1 && tiny.partition.heads == 1 && tiny.partition.ffn == 216));
  // A chip too small for one layer of the model.
  REQUIRE_THROWS_WITH(
      plan_model(m, tsp::load_config(kSource + "/configs/tiny.json"), {4096}),
      Catch::Contains("llama2-7b at context 4096 fits on no number of chips: with 272 (34 stages) stage 0"));
}

TEST_CASE("the vocabulary split is one partition: consecutive ranges over every entry, as printed") {
  const auto m = model("llama2-7b");
  for (uint32_t chips : {1u, 3u, 7u, 8u}) {
    INFO(chips << " chips");
    uint32_t next = 0;
    for (uint32_t c = 0; c < chips; ++c) {
      const auto share = tsp::model::vocab_share(m, chips, c);
      CHECK(share.first == next);
      CHECK(share.count == std::min((32000 + chips - 1) / chips, 32000 - next));
      next += share.count;
    }
    CHECK(next == 32000);
  }
  // 7 chips: 4572 entries each, the last 4568.
  CHECK(tsp::model::vocab_share(m, 7, 6).count == 4568);
  const auto plan = plan_model(m, chip(), {4096});
  const std::string text = tsp::model::format_plan(plan, m, chip());
  CHECK_THAT(text,
             Catch::Matchers::Contains("1376 of 11008 ffn columns; embedding 4000 of 32000 vocabulary rows "
                                       "(first stage); LM head 4000 of 32000 vocabulary columns (last "
                                       "stage)\n"));
}
