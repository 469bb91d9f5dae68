// The capacity planner: exact budgets for the tiny model (derived by hand below) and for Llama-2
// 7B (from the formulas of docs/models.md, written out again here), the minimum chip count, and
// what it says when a chip count is too small.
#include "tspsim/common/error.h"
#include "tspsim/config/config.h"
#include "tspsim/model/plan.h"

#include <algorithm>
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

// Llama-2 7B (int8 weights, fp16 KV and norms) on one chip of an 8-way stage of `attention`
// attention blocks and `mlp` MLP blocks over `layers` layers (whole layers: all three equal): per
// chip 4 query heads and 4 KV heads of 128 (512 columns each), 1376 ffn columns. Each projection
// is its own matrix of whole 320 x 320 tiles, as tspc places them.
ChipBudget llama2_7b_blocks(uint64_t attention, uint64_t mlp, uint64_t layers, bool embedding, bool lm_head,
                            uint64_t context) {
  ChipBudget b;
  const uint64_t d = 4096, q = 512, kv = 512, f = 1376;
  struct Matrix {
    uint64_t k, n, blocks;
  };
  const Matrix matrices[] = {{d, q, attention}, {d, kv, attention}, {d, kv, attention}, {q, d, attention},
                             {d, f, mlp},       {d, f, mlp},        {f, d, mlp}};
  uint64_t instructions = 0;
  for (const auto& m : matrices) {
    b.weights += m.blocks * m.k * m.n;
    b.scales += m.blocks * m.n * 4;
    b.padding += m.blocks * (up(m.k) * up(m.n) - m.k * m.n + (up(m.n) - m.n) * 4);
    instructions += m.blocks * 51 * (up(m.k) / 320 * (up(m.n) / 320));
  }
  b.norms = (attention + mlp) * d * 2; // one gain per block; 4096 = 12.8 vectors: padded to 4160
  b.padding += (attention + mlp) * (up(d) - d) * 2;
  b.kv_cache = attention * 2 * kv * context * 2;
  // As tspc lays out the cache in 16 MEM slices (8 groups of 2 fp16 bytes) per tensor, one word
  // being 320 bytes: K^T in tiles of 320 positions, each of 3 x 128 + 320 = 704 rows (the last
  // head's LW reads a whole tile), 88 words per slice; V a tensor per head of up(context) rows.
  const uint64_t cache_words = up(context) / 320 * (704 / 8) * 16 + 4 * (up(context) / 8) * 16;
  b.padding += attention * (cache_words * 320 - 2 * kv * context * 2);
  instructions += attention * (3600 + 3 * context) + layers * 4000;
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

ChipBudget llama2_7b_stage(uint64_t layers, bool embedding, bool lm_head, uint64_t context) {
  return llama2_7b_blocks(layers, layers, layers, embedding, lm_head, context);
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
  // Half-layer blocks do not help: 64 blocks over 7 stages put 10 consecutive blocks, 5 of each
  // kind, on some stage: 5 layers' worth.
  const auto seven = plan_model(m, chip(), {4096, 56});
  CHECK_FALSE(seven.fits);
  CHECK(seven.shortfalls.back() ==
        "half-layer stages: no deal of the 64 attention and MLP blocks over 7 stages fits either");
}

// docs/models.md, "Half-layer stages": at 2k context 6 stages of whole layers do not fit, 6
// stages of half-layer blocks do. 64 blocks over 6 stages: the first and last (embedding, LM head: 15.6 MiB
// each) hold 5 layers, the middle four 11 blocks each, which start alternately at an attention block (6
// attention, 5 MLP: 128.6 MiB of weights) and at an MLP block (5 attention, 6 MLP: 136.8 MiB, the
// busiest stage). 5 stages cannot fit: one would hold 13 blocks, 6 whole layers and more.
TEST_CASE("Llama-2 7B int8 at 2k context needs 48 chips: 6 stages of half-layer blocks") {
  const auto m = model("llama2-7b");
  const auto plan = plan_model(m, chip(), {2048});
  REQUIRE(plan.fits);
  CHECK(plan.chips() == 48);
  REQUIRE(plan.stages.size() == 6);
  struct Want {
    uint32_t first_layer, layers;
    bool starts_at_mlp, ends_after_attention;
  };
  const Want want[] = {{0, 5, false, false}, {5, 6, false, true},  {10, 6, true, false},
                       {16, 6, false, true}, {21, 6, true, false}, {27, 5, false, false}};
  for (size_t i = 0; i < 6; ++i) {
    INFO("stage " << i);
    const auto& s = plan.stages[i];
    CHECK(s.first_layer == want[i].first_layer);
    CHECK(s.layers == want[i].layers);
    CHECK(s.starts_at_mlp == want[i].starts_at_mlp);
    CHECK(s.ends_after_attention == want[i].ends_after_attention);
    CHECK(s.embedding == (i == 0));
    CHECK(s.lm_head == (i == 5));
    check_budget(s.budget,
                 llama2_7b_blocks(s.attention_blocks(), s.mlp_blocks(), s.layers, i == 0, i == 5, 2048));
    CHECK(s.budget.total() <= plan.sram_bytes);
  }
  uint64_t busiest = 0; // weights of the stage with the most
  for (const auto& s : plan.stages) busiest = std::max(busiest, s.budget.weights);
  CHECK(busiest == 5 * (4096ull * 1536 + 512 * 4096) + 6 * (4096ull * 2752 + 1376 * 4096));
  CHECK_FALSE(plan_model(m, chip(), {2048, 40}).fits);
}

TEST_CASE("Llama-2 7B at 2k context on 56 chips: whole layers, 5 on stage 1") {
  const auto plan = plan_model(model("llama2-7b"), chip(), {2048, 56});
  REQUIRE(plan.fits);
  CHECK(plan.chips() == 56);
  REQUIRE(plan.stages.size() == 7);
  check_budget(plan.stages[1].budget, llama2_7b_stage(5, false, false, 2048));
}

// 424 chips = 53 stages: whole layers put 2 on 27 stages; half-layer blocks fit at most 3 a stage
// (four are two layers' weights, 204 MiB, 250.6 MiB with the rest), 159 of the 160 blocks.
TEST_CASE("too few chips: the planner says which stages overflow and by how much") {
  const auto plan = plan_model(model("llama2-70b"), chip(), {4096, 424});
  CHECK_FALSE(plan.fits);
  CHECK(plan.chips() == 424);
  REQUIRE(plan.stages.size() == 53);
  CHECK(plan.stages[1].layers == 2);
  const uint64_t over = plan.stages[1].budget.total() - plan.sram_bytes;
  REQUIRE(plan.shortfalls.size() == 2);
  CHECK(plan.shortfalls[0] ==
        "stages 1-27 (2 layers each): needs 250.6 MiB per chip, has 220.0 MiB: 30.6 MiB (" +
            std::to_string(over) +
            " bytes) over; weights 204.0, scales and norms 0.3, KV cache 4.0, padding 35.8, activations 0.3, "
            "program text 1.2, reserve 5.0 MiB");
  CHECK(plan.shortfalls[1] ==
        "half-layer stages: no deal of the 160 attention and MLP blocks over 53 stages fits either");
  // Without the tile padding, the two-layer stages would fit.
  CHECK(plan.stages[1].budget.total() - plan.stages[1].budget.padding <= plan.sram_bytes);
}

// Per chip of an 8-way stage, Llama-2 70B's attention block holds 8192 x 1280 (Q, K, V) and 1024 x
// 8192 (O) int8 weights, 18 MiB; its MLP block 8192 x 7168 (gate, up) and 3584 x 8192 (down), 84 MiB.
// 80 MLP blocks over 72 stages put two on some stage, with the attention block between them: 186
// MiB, the least possible load of the busiest stage, and the deal's. The even deal around it
// alternates those with attention, MLP, attention (120 MiB) stages, then MLP, attention (102 MiB).
TEST_CASE("Llama-2 70B fits 576 chips (72 stages of 8) in half-layer blocks") {
  const auto plan = plan_model(model("llama2-70b"), chip(), {4096, 576});
  REQUIRE(plan.fits);
  REQUIRE(plan.stages.size() == 72);
  const uint64_t attention = 8192ull * 1280 + 1024ull * 8192, mlp = 8192ull * 7168 + 3584ull * 8192;
  const uint64_t table = 4000ull * 8192; // the embedding's and the LM head's 4000 vocabulary entries
  uint32_t next = 0;                     // the next block: 2l attention of layer l, 2l + 1 its MLP
  uint32_t double_mlp = 0;
  for (size_t i = 0; i < 72; ++i) {
    INFO("stage " << i);
    const auto& s = plan.stages[i];
    CHECK(2 * s.first_layer + (s.starts_at_mlp ? 1 : 0) == next);
    next = 2 * (s.first_layer + s.layers) - (s.ends_after_attention ? 1 : 0);
    CHECK(s.budget.weights == s.attention_blocks() * attention + s.mlp_blocks() * mlp +
                                  (s.embedding ? table : 0) + (s.lm_head ? table : 0));
    CHECK(s.budget.total() <= plan.sram_bytes);
    CHECK(s.budget.weights <= 2 * mlp + attention);
    if (s.mlp_blocks() == 2) ++double_mlp;
  }
  CHECK(next == 160);
  CHECK(double_mlp == 8);
  CHECK(plan.fullest().budget.weights == 2 * mlp + attention);
  // Stages 1 and 2: attention 1, MLP 1, attention 2 | MLP 2, attention 3, MLP 3; stage 18 on: one
  // MLP and the next layer's attention each; the last stage layer 79's MLP and the LM head.
  CHECK(
      (plan.stages[1].first_layer == 1 && plan.stages[1].layers == 2 && plan.stages[1].ends_after_attention));
  CHECK((plan.stages[2].first_layer == 2 && plan.stages[2].starts_at_mlp &&
         !plan.stages[2].ends_after_attention));
  CHECK((plan.stages[18].first_layer == 26 && plan.stages[18].starts_at_mlp &&
         plan.stages[18].ends_after_attention));
  CHECK((plan.stages[71].first_layer == 79 && plan.stages[71].layers == 1 && plan.stages[71].starts_at_mlp));
  const std::string text = tsp::model::format_plan(plan, model("llama2-70b"), chip());
  CHECK_THAT(text,
             Catch::Matchers::Contains("chips 576 = 72 pipeline stages x 8-way tensor parallel: fits\n"));
  CHECK_THAT(text, Catch::Matchers::Contains("\n2        layer 2 MLP - layer 3                 186.0"));
  CHECK_THAT(text, Catch::Matchers::Contains("\n71       layer 79 MLP, LM head                 115.2"));
}

// The tiny model's 2 layers over 4 stages (16 chips, 4-way): whole layers would leave the first and
// last stage without a layer, so each stage holds one block.
TEST_CASE("more stages than layers: one half-layer block a stage, named in the plan") {
  const auto m = model("tiny-llama");
  const auto plan = plan_model(m, chip(), {256, 16});
  REQUIRE(plan.fits);
  const std::string text = tsp::model::format_plan(plan, m, chip());
  CHECK_THAT(text, Catch::Matchers::Contains("\n0        layer 0 attention, embedding"));
  CHECK_THAT(text, Catch::Matchers::Contains("\n1        layer 0 MLP         "));
  CHECK_THAT(text, Catch::Matchers::Contains("\n2        layer 1 attention   "));
  CHECK_THAT(text, Catch::Matchers::Contains("\n3        layer 1 MLP, LM head"));
}

TEST_CASE("Llama-2 70B and Llama-3 70B minimum chip counts") {
  // 80 layers in stages of at most 3 blocks (attention, MLP, attention) or two MLPs around an
  // attention: 54 stages.
  const auto l2 = plan_model(model("llama2-70b"), chip(), {4096});
  CHECK(l2.chips() == 432);
  CHECK_FALSE(plan_model(model("llama2-70b"), chip(), {4096, 424}).fits);
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

// ceil(4294967295 / 2) was 0 in 32 bits: a model with no ffn column per chip "fit".
TEST_CASE("widths near 2^32 split over chips without overflow") {
  auto m = model("tiny-llama");
  m.ffn = 4294967295u;
  m.vocab = 4294967295u;
  const auto plan = plan_model(m, chip(), {256, 2});
  CHECK(plan.partition.ffn == 2147483648u);
  CHECK(plan.partition.vocab == 2147483648u);
  CHECK(tsp::model::vocab_share(m, 2, 1).count == 2147483647u);
  CHECK_FALSE(plan.fits);
}

// A deal of half-layer blocks is not sought when no stage could hold its share: 1024 layers of
// Llama-2 70B took 23 s of such deals before the 683 stages that fit.
TEST_CASE("a 1024-layer model is planned without searching deals that cannot fit") {
  auto m = model("llama2-70b");
  m.layers = 1024;
  const auto plan = plan_model(m, chip(), {256});
  CHECK(plan.fits);
  CHECK(plan.partition.tensor_parallel == 8);
  CHECK(plan.partition.pipeline_stages == 683);
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
