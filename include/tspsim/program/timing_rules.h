// Timing and encoding rules that both the simulator and the compiler apply, each written once:
// the stream operand encoding, the diagonal a stream value travels on, the ICU's Notify and Ifetch
// timing, the run length of a program, the Repeat/NOP limits set by the ISA's field widths, and
// which instructions a queue may issue. (Per-instruction latencies are in latency.h.)
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace tsp {

// A stream operand field: bit 6 = westward, bits 5..0 = the stream id (a group's base).
inline constexpr int64_t kStreamWest = 0x40;
inline constexpr int64_t kStreamIdMask = 0x3f;
constexpr int64_t stream_field(unsigned id, bool west) { return (west ? kStreamWest : 0) | int64_t(id); }
constexpr unsigned stream_field_id(int64_t field) { return static_cast<unsigned>(field & kStreamIdMask); }
constexpr bool stream_field_west(int64_t field) { return (field & kStreamWest) != 0; }
// The text form of a stream: E<id> eastward, W<id> westward (no leading zeros).
constexpr char stream_direction_letter(bool west) { return west ? 'W' : 'E'; }
std::string stream_field_name(int64_t field);
// The field of a stream's text form, or nothing when `text` is not E/W<id> with id < per_direction.
std::optional<int64_t> parse_stream_field(std::string_view text, unsigned per_direction);

// A value put on a stream at `position` in `cycle` is at position + j in cycle + j * hop
// eastward (position - j westward): every (position, cycle) it reaches has this diagonal.
constexpr int64_t stream_diagonal(bool west, unsigned position, int64_t cycle, unsigned hop_cycles) {
  const int64_t offset = int64_t(position) * hop_cycles;
  return west ? cycle + offset : cycle - offset;
}

// Notify dispatched in cycle t releases the queues parked in Sync at t + this.
uint64_t notify_release_cycles(const ChipConfig& config);
// Ifetch dispatched in cycle t reads its i-th word at t + ifetch_read_cycles + i; the text of that
// word is dispatchable from t + ifetch_arrival_cycles + i.
uint64_t ifetch_read_cycles(const ChipConfig& config);
uint64_t ifetch_arrival_cycles(const ChipConfig& config);

// The cycles a run takes when its last dispatch, stream or SRAM access is in cycle `last_active`:
// superlane s does the same work s * superlane_stagger cycles after superlane 0.
uint64_t run_cycles(uint64_t last_active, const ChipConfig& config);

// Instruction text in MEM (what Ifetch reads): a vector of `vector_bytes` holds this many
// instruction words, slot i at byte i * kInstructionBytes, least significant byte first; an
// all-zero word is an empty slot.
unsigned text_words_per_vector(unsigned vector_bytes);
void put_text_word(uint8_t* vector, unsigned slot, uint64_t word);
// Inline and one load: the ICU reads every word of every fetched vector.
inline uint64_t text_word(const uint8_t* vector, unsigned slot) {
  static_assert(isa::kInstructionBytes == sizeof(uint64_t), "a text word is one 64-bit instruction");
  uint64_t word;
  std::memcpy(&word, vector + size_t(slot) * isa::kInstructionBytes, sizeof word);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  word = __builtin_bswap64(word);
#endif
  return word;
}

// The cycles superlane 0's work is ahead of the last superlane's.
uint64_t last_superlane_stagger(const ChipConfig& config);

// The largest operands of Repeat (count, interval, |stride|) and NOP, from their ISA field widths.
struct RepeatLimits {
  uint64_t count;
  int64_t interval;
  int64_t stride;
  uint64_t nop;
};
const RepeatLimits& repeat_limits();

// The unit whose instructions a queue on a slice of `kind` issues (besides the ICU's own).
isa::Unit queue_unit(SliceKind kind);
// Whether such a queue may issue `spec` (C2C instructions are issued by SXM queues).
bool queue_may_issue(const isa::OpcodeSpec& spec, SliceKind kind);
// The same from the instruction's isa::issuing_unit and the queue's queue_unit, for callers
// that keep both.
inline bool queue_may_issue(isa::Unit issuer, isa::Unit queue) {
  return issuer == isa::Unit::icu || issuer == queue;
}

} // namespace tsp
