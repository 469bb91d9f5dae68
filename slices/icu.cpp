#include "slices/icu.h"

#include "tspsim/common/error.h"
#include "tspsim/engine/debug_clock.h"
#include "tspsim/engine/operand_groups.h"
#include "tspsim/program/instruction_check.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <fmt/format.h>
#include <optional>

namespace tsp {

using isa::Opcode;

Icu::Icu(sc_core::sc_module_name name, EngineContext& ctx, std::vector<FunctionalSlice*> slices,
         std::vector<InstructionMemory*> mems, DebugClock* debug_clock)
    : sc_core::sc_module(name), ctx_(ctx), slices_(std::move(slices)), mems_(std::move(mems)),
      debug_clock_(debug_clock), ready_(static_cast<unsigned>(ctx.floorplan.queues().size())) {
  const auto& floorplan = ctx_.floorplan;
  queues_.resize(floorplan.queues().size());
  for (unsigned q = 0; q < queues_.size(); ++q) {
    queues_[q].id = q;
    queues_[q].slice = floorplan.queues()[q].slice;
    queues_[q].local = floorplan.queues()[q].local;
    queues_[q].active_lanes = ctx_.vector_bytes;
  }
  for (unsigned s = 0; s < floorplan.slices().size(); ++s)
    if (floorplan.slices()[s].kind == SliceKind::mxm) interval_slices_.push_back(slices_[s]);
  if (debug_clock_) {
    SC_METHOD(debug_negedge);
    sensitive << debug_clock_->clock.negedge_event();
    dont_initialize();
  }
}

void Icu::load(const Program& program) {
  // validate_program has checked that every queue's text fits its instruction buffer, and that
  // no queue appears twice.
  for (const auto& qp : program.queues) {
    InstructionQueue& queue = queues_.at(qp.queue);
    std::vector<QueuedInstruction> text;
    text.reserve(qp.words.size());
    for (size_t i = 0; i < qp.words.size(); ++i)
      text.push_back({decode(qp.words[i]), queue.appended++, qp.lines.empty() ? 0u : qp.lines[i]});
    queue.buffer = RingQueue<QueuedInstruction>(std::move(text));
    if (!queue.buffer.empty()) queue.last_appended = queue.buffer.back().instruction;
  }
  check_image_text();
  for (auto& queue : queues_) schedule(queue);
}

Cycle Icu::next_event() const {
  Cycle next = ready_.earliest();
  if (!fetch_reads_.empty()) next = std::min(next, fetch_reads_.top().cycle);
  if (released_ < ctx_.releases.size()) next = std::min(next, ctx_.releases[released_]);
  return next;
}

void Icu::debug_negedge() { evaluate(debug_clock_->cycle()); }

void Icu::evaluate(Cycle t) {
  now_ = t;
  release_barriers(t);
  for (bool any = true; any;) {
    any = false;
    ready_.take_due_each(t, [&](Cycle cycle, unsigned id) {
      any = true;
      InstructionQueue& queue = queues_[id];
      if (cycle == t && queue.next_dispatch == t && !queue.parked && !queue.idle()) dispatch(queue, t);
    });
  }
  // After dispatch: an Ifetch with no skew reads in its own cycle.
  do_fetch_reads(t);
}

void Icu::release_barriers(Cycle t) {
  while (released_ < ctx_.releases.size() && ctx_.releases[released_] <= t) {
    const Cycle release = ctx_.releases[released_++];
    for (auto& queue : queues_) {
      if (!queue.parked || queue.parked_at >= release) continue;
      queue.parked = false;
      queue.next_dispatch = release;
      schedule(queue);
    }
  }
}

void Icu::do_fetch_reads(Cycle t) {
  const unsigned per_word = text_words_per_vector(ctx_.vector_bytes);
  while (!fetch_reads_.empty() && fetch_reads_.top().cycle <= t) {
    const FetchRead read = fetch_reads_.top();
    fetch_reads_.pop();
    InstructionQueue& queue = queues_[read.queue];
    --queue.fetch_reads_pending;
    const uint8_t* word = mems_[read.mem]->read_text(read.cycle, read.address, read.origin);
    InstructionQueue::Arrival arrival{read.arrival, read.origin, {}};
    if (!spare_instructions_.empty()) {
      arrival.instructions = std::move(spare_instructions_.back());
      spare_instructions_.pop_back();
    }
    if (word) arrival.instructions.reserve(per_word);
    const bool image_checked = word && checked_images_.count(word) != 0;
    const isa::Unit unit = queue_unit(ctx_.floorplan.slices()[queue.slice].kind);
    for (unsigned i = 0; word && i < per_word; ++i) {
      const uint64_t bits = text_word(word, i);
      if (bits == 0) continue;
      try {
        DecodedWord& decoded = decode_fetched(bits);
        if (!queue_may_issue(decoded.issuer, unit))
          throw InputError(fmt::format("{} cannot be issued by queue {}", decoded.instruction.spec().mnemonic,
                                       ctx_.floorplan.queues()[queue.id].name));
        // Fetched text obeys the rules of initial text, or the slices would index streams, words
        // or links the chip does not have; the program's own text was checked while loading,
        // but for a Repeat first in its vector, which follows whatever the queue holds.
        if (!image_checked && !fetched_operands_ok(decoded))
          throw InputError(*check_fetched_operands(decoded.instruction, ctx_.config, ctx_.floorplan));
        if (decoded.instruction.opcode == isa::Opcode::repeat &&
            (!image_checked || arrival.instructions.empty()))
          if (auto problem =
                  check_repeat(decoded.instruction, instruction_before(queue, arrival), ctx_.config))
            throw InputError(*problem);
        arrival.instructions.push_back({decoded.instruction, 0, 0});
      } catch (const InputError& error) {
        ctx_.log.report(ErrorKind::ifetch_invalid, read.cycle, read.origin,
                        fmt::format("word {} instruction {}: {}", read.address, i, error.what()));
      }
    }
    if (arrival.instructions.empty()) { // all padding: nothing for the queue to wait for
      spare_instructions_.push_back(std::move(arrival.instructions));
      continue;
    }
    queue.fetched_in_flight += static_cast<uint32_t>(arrival.instructions.size());
    queue.arrivals.push_back(std::move(arrival));
    schedule(queue);
  }
}

inline Icu::DecodedWord& Icu::decode_fetched(uint64_t bits) {
  DecodedWord& entry = decoded_[(bits * 0x9e3779b97f4a7c15ull) >> (64 - kDecodedLog2)];
  if (entry.bits != bits) {
    entry.instruction = decode(bits);
    entry.bits = bits;
    entry.issuer = isa::issuing_unit(entry.instruction.spec().unit);
    entry.operands = DecodedWord::Operands::unchecked;
  }
  return entry;
}

bool Icu::fetched_operands_ok(DecodedWord& entry) const {
  if (entry.operands == DecodedWord::Operands::unchecked)
    entry.operands = check_fetched_operands(entry.instruction, ctx_.config, ctx_.floorplan)
                         ? DecodedWord::Operands::invalid
                         : DecodedWord::Operands::ok;
  return entry.operands == DecodedWord::Operands::ok;
}

void Icu::check_image_text() {
  std::vector<Instruction> ifetches;
  for (const auto& queue : queues_)
    for (size_t i = 0; i < queue.buffer.size(); ++i)
      if (queue.buffer[i].instruction.opcode == isa::Opcode::ifetch)
        ifetches.push_back(queue.buffer[i].instruction);
  std::unordered_set<const uint8_t*> visited;
  while (!ifetches.empty()) {
    const Instruction ifetch = ifetches.back();
    ifetches.pop_back();
    const unsigned mem = *ctx_.floorplan.mem_global_from_field(static_cast<uint64_t>(ifetch.operands[0]));
    for (int64_t i = 0; i < ifetch.operands[2]; ++i) {
      const uint8_t* vector = mems_[mem]->image_word(static_cast<uint32_t>(ifetch.operands[1] + i));
      // A checked vector's Ifetches name MEM slices and words that exist: they are followed.
      if (vector && visited.insert(vector).second && text_vector_ok(vector, ifetches))
        checked_images_.insert(vector);
    }
  }
}

bool Icu::text_vector_ok(const uint8_t* vector, std::vector<Instruction>& ifetches) const {
  const unsigned per_word = text_words_per_vector(ctx_.vector_bytes);
  const size_t found_before = ifetches.size();
  std::optional<Instruction> previous; // a Repeat first in its vector follows the queue's text
  for (unsigned w = 0; w < per_word; ++w) {
    const uint64_t bits = text_word(vector, w);
    if (bits == 0) continue;
    try {
      const Instruction instruction = decode(bits);
      if (check_fetched_operands(instruction, ctx_.config, ctx_.floorplan) ||
          (previous && instruction.opcode == isa::Opcode::repeat &&
           check_repeat(instruction, &*previous, ctx_.config))) {
        ifetches.resize(found_before);
        return false;
      }
      if (instruction.opcode == isa::Opcode::ifetch) ifetches.push_back(instruction);
      previous = instruction;
    } catch (const InputError&) {
      ifetches.resize(found_before);
      return false;
    }
  }
  return true;
}

const Instruction* Icu::instruction_before(const InstructionQueue& queue,
                                           const InstructionQueue::Arrival& arrival) {
  if (!arrival.instructions.empty()) return &arrival.instructions.back().instruction;
  if (!queue.arrivals.empty()) return &queue.arrivals.back().instructions.back().instruction;
  return queue.appended > 0 ? &queue.last_appended : nullptr;
}

void Icu::take_arrivals(InstructionQueue& queue, Cycle t) {
  const unsigned capacity = ctx_.config.icu.instruction_buffer_entries;
  while (!queue.arrivals.empty() && queue.arrivals.front().cycle <= t) {
    auto& arrival = queue.arrivals.front();
    for (auto& qi : arrival.instructions) qi.index = queue.appended++;
    queue.buffer.append(arrival.instructions.data(), arrival.instructions.size());
    queue.last_appended = arrival.instructions.back().instruction;
    queue.fetched_in_flight -= static_cast<uint32_t>(arrival.instructions.size());
    if (queue.buffer.size() > capacity)
      ctx_.log.report(ErrorKind::queue_overflow, arrival.cycle, arrival.origin,
                      fmt::format("fetched text fills queue {} to {} instructions; its buffer holds {}",
                                  ctx_.floorplan.queues()[queue.id].name, queue.buffer.size(), capacity));
    arrival.instructions.clear();
    spare_instructions_.push_back(std::move(arrival.instructions));
    queue.arrivals.pop_front();
  }
}

void Icu::dispatch(InstructionQueue& queue, Cycle t) {
  if (!queue.arrivals.empty()) take_arrivals(queue, t);
  if (queue.repeats_left > 0) {
    // The repeated instruction is the previous one advanced by the stride, issued in place.
    Dispatch& again = queue.previous;
    if (queue.repeat_field >= 0) again.instruction.operands[queue.repeat_field] += queue.repeat_stride;
    again.cycle = t;
    if (queue.offer_in != 0 && --queue.offer_in == 0) {
      if (queue.repeats_left > 1 && hand_over_run(queue)) return;
      queue.offer_in = queue.offer_gap;
      queue.offer_gap = std::min<uint32_t>(2 * queue.offer_gap, 1u << 30);
    }
    --queue.repeats_left;
    queue.next_dispatch = queue.repeats_left > 0 ? t + queue.repeat_interval : t + 1;
    ctx_.stats.issued(queue.slice, again.instruction.opcode);
    ctx_.mark_active(t);
    issue(queue);
    schedule(queue);
    return;
  }
  if (queue.buffer.empty()) {
    if (queue.arrivals.empty()) return;
    const Cycle arrival = queue.arrivals.front().cycle;
    ctx_.log.report(ErrorKind::queue_starved, t, queue.arrivals.front().origin,
                    fmt::format("queue {} ran dry; its fetched text arrives at cycle {}",
                                ctx_.floorplan.queues()[queue.id].name, arrival));
    queue.next_dispatch = arrival;
    schedule(queue);
    return;
  }
  const QueuedInstruction& front = queue.buffer.front();
  const Opcode opcode = front.instruction.opcode;
  ctx_.stats.issued(queue.slice, opcode);
  ctx_.mark_active(t);
  if (opcode == Opcode::nop) { // the commonest ICU instruction, run without a copy or an origin
    queue.next_dispatch = t + static_cast<Cycle>(front.instruction.operands[0]);
    queue.buffer.pop_front();
    schedule(queue);
    return;
  }
  const Origin origin{queue.id, front.index, front.line, opcode};
  if (isa::spec(opcode).unit != isa::Unit::icu) {
    queue.previous = Dispatch{front.instruction, origin, queue.local, queue.active_lanes, t};
    queue.buffer.pop_front();
  } else {
    // Copied out: run_icu_instruction may dispatch the queue again (a Repeat due in this cycle).
    const QueuedInstruction qi = front;
    queue.buffer.pop_front();
    if (run_icu_instruction(queue, qi, origin, t)) return;
    queue.previous = Dispatch{qi.instruction, origin, queue.local, queue.active_lanes, t};
  }
  queue.next_dispatch = t + 1;
  queue.has_previous = true;
  issue(queue);
  schedule(queue);
}

namespace {

// The streams an instruction writes: direction, first id and count (count 0: none).
struct WrittenStreams {
  bool west = false;
  unsigned first = 0;
  unsigned count = 0;
};

WrittenStreams written_streams(const Instruction& instruction) {
  const auto fields = instruction.spec().operand_fields();
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].kind == isa::FieldKind::stream && fields[i].role == isa::StreamRole::write) {
      const StreamRef stream = StreamRef::from_field(instruction.operands[i]);
      return {stream.west, stream.id, stream_group(instruction, i)};
    }
  return {};
}

bool overlap(const WrittenStreams& a, const WrittenStreams& b) {
  return a.count != 0 && b.count != 0 && a.west == b.west && a.first < b.first + b.count &&
         b.first < a.first + a.count;
}

} // namespace

// Whether another queue of `queue`'s slice may still write a stream the run writes: a value of
// another queue landing on a run's value is reported where that write lands, and with a third
// write in the same cycle the per-cycle order of the reports depends on where the run's own
// writes would have been, so such runs are not taken. Fetched text could hold anything.
bool Icu::slice_mates_may_write(const InstructionQueue& queue, const Instruction& instruction) const {
  const SliceInfo& slice = ctx_.floorplan.slices()[queue.slice];
  if (slice.queue_count == 1) return false;
  const WrittenStreams run = written_streams(instruction);
  if (run.count == 0) return false;
  for (unsigned id = slice.first_queue; id < slice.first_queue + slice.queue_count; ++id) {
    const InstructionQueue& other = queues_[id];
    if (other.id == queue.id) continue;
    if (!other.arrivals.empty() || other.fetch_reads_pending != 0) return true;
    if (other.repeats_left > 0 && overlap(run, written_streams(other.previous.instruction))) return true;
    for (size_t i = 0; i < other.buffer.size(); ++i) {
      const Instruction& instruction = other.buffer[i].instruction;
      if (instruction.opcode == Opcode::ifetch || overlap(run, written_streams(instruction))) return true;
    }
  }
  return false;
}

// Hands the rest of the queue's Repeat, from the iteration in `previous` on, to its slice whole
// if it can take it; the queue then stands where its last iteration leaves it. Not while text is
// being fetched for this queue: an arrival is taken at a dispatch, and its checks must happen at
// that dispatch. Other queues' Ifetch reads meet a run as any access does (MemSlice::access).
bool Icu::hand_over_run(InstructionQueue& queue) {
  if (!ctx_.runs_allowed() || !queue.arrivals.empty() || queue.fetch_reads_pending != 0) return false;
  if (slice_mates_may_write(queue, queue.previous.instruction)) return false;
  const RepeatRun run{queue.previous, queue.repeats_left, queue.repeat_interval, queue.repeat_field,
                      queue.repeat_stride};
  if (!slices_[queue.slice]->take_run(run)) return false;
  // Runs past their last dispatch are dropped whenever the list has doubled since the last
  // pruning (and by split_runs): amortised constant work per run taken.
  if (taken_runs_.size() >= 2 * taken_runs_pruned_) {
    const Cycle t = now_;
    taken_runs_.erase(std::remove_if(taken_runs_.begin(), taken_runs_.end(),
                                     [t](const auto& taken) { return taken.second.last_dispatch() < t; }),
                      taken_runs_.end());
    taken_runs_pruned_ = std::max<size_t>(taken_runs_.size(), 1);
  }
  taken_runs_.emplace_back(queue.id, run);
  queue.previous.instruction = run.instruction(run.count - 1);
  queue.previous.cycle = run.last_dispatch();
  queue.repeats_left = 0;
  queue.next_dispatch = queue.previous.cycle + 1;
  ctx_.touched.push_back(queue.slice);
  schedule(queue);
  return true;
}

// A release at `release`, scheduled in cycle t, ends the taken runs whose checks it changes
// after their iterations dispatched by t; their queues resume the Repeat one by one from the
// next iteration (and may hand the rest over again if it passes the checks then).
void Icu::split_runs(Cycle t, Cycle release) {
  for (auto it = taken_runs_.begin(); it != taken_runs_.end();) {
    const auto& [id, run] = *it;
    if (run.last_dispatch() <= t) {
      it = taken_runs_.erase(it);
      continue;
    }
    InstructionQueue& queue = queues_[id];
    const uint64_t kept = slices_[queue.slice]->split_run(t, release);
    if (kept == 0) {
      ++it;
      continue;
    }
    queue.previous.instruction = run.instruction(kept - 1);
    queue.previous.cycle = run.dispatch_cycle(kept - 1);
    queue.repeats_left = run.count - static_cast<uint32_t>(kept);
    queue.next_dispatch = run.dispatch_cycle(kept);
    queue.offer_from_next();
    ctx_.touched.push_back(queue.slice);
    schedule(queue);
    it = taken_runs_.erase(it);
  }
  for (FunctionalSlice* slice : interval_slices_) slice->split_reads(t, release);
}

// Hands the queue's latest instruction (`previous`) to its slice. Inline: in both of dispatch's
// paths, which have marked the cycle active.
inline void Icu::issue(InstructionQueue& queue) {
  const Dispatch& dispatch = queue.previous;
  ctx_.stats.busy(queue.slice, dispatch.cycle);
  ctx_.first_issue = std::min(ctx_.first_issue, dispatch.cycle);
  ctx_.touched.push_back(queue.slice);
  if (ActivityObserver* observer = ctx_.stats.observer()) observer->dispatched(queue.slice, dispatch);
  slices_[queue.slice]->execute(dispatch);
}

// Carries out an ICU instruction; false if `qi` belongs to the queue's slice.
bool Icu::run_icu_instruction(InstructionQueue& queue, const QueuedInstruction& qi, const Origin& origin,
                              Cycle t) {
  const auto& ops = qi.instruction.operands;
  switch (qi.instruction.opcode) {
  case Opcode::repeat: {
    // Repeat takes no dispatch slot: its first iteration may be due in this very cycle.
    queue.repeats_left = static_cast<uint32_t>(ops[0]);
    queue.repeat_interval = static_cast<uint32_t>(ops[1]);
    queue.repeat_stride = ops[2];
    queue.repeat_field = queue.has_previous ? strided_field(queue.previous.instruction.spec()) : -1;
    queue.offer_from_next();
    if (!queue.has_previous) queue.repeats_left = 0;
    const Cycle first = queue.has_previous ? queue.previous.cycle + queue.repeat_interval : t;
    queue.next_dispatch = queue.repeats_left > 0 ? std::max(first, t) : std::max(queue.previous.cycle + 1, t);
    if (queue.next_dispatch == t) {
      dispatch(queue, t);
      return true;
    }
    break;
  }
  case Opcode::sync:
    queue.parked = true;
    queue.parked_at = t;
    return true;
  case Opcode::notify:
    ctx_.releases.push_back(t + notify_release_cycles(ctx_.config));
    split_runs(t, ctx_.releases.back());
    queue.next_dispatch = t + 1;
    break;
  case Opcode::ifetch: {
    if (decoded_.empty()) decoded_.resize(size_t{1} << kDecodedLog2);
    const unsigned mem = *ctx_.floorplan.mem_global_from_field(static_cast<uint64_t>(ops[0]));
    const Cycle skew = ifetch_read_cycles(ctx_.config);
    const Cycle latency = ifetch_arrival_cycles(ctx_.config);
    for (int64_t i = 0; i < ops[2]; ++i) {
      ++queue.fetch_reads_pending;
      fetch_reads_.push({t + skew + Cycle(i), t + latency + Cycle(i), queue.id, mem,
                         static_cast<uint32_t>(ops[1] + i), origin});
    }
    queue.next_dispatch = t + 1;
    break;
  }
  case Opcode::config:
    queue.active_lanes = static_cast<unsigned>(ops[0]) * ctx_.config.geometry.lanes_per_superlane;
    queue.next_dispatch = t + 1;
    break;
  case Opcode::deskew: {
    queue.next_dispatch = ctx_.clock.next_epoch(t, ctx_.config.c2c.hac_period_cycles);
    break;
  }
  default:
    return false;
  }
  schedule(queue);
  return true;
}

void Icu::finish(Cycle t) {
  for (const auto& queue : queues_)
    if (queue.parked)
      ctx_.log.report_slice(ErrorKind::sync_unreleased, t, queue.slice,
                            fmt::format("queue {} is still parked in the Sync it reached at cycle {}",
                                        ctx_.floorplan.queues()[queue.id].name, queue.parked_at));
}

} // namespace tsp
