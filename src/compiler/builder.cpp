#include "tspsim/compiler/builder.h"

#include "tspsim/common/error.h"
#include "tspsim/common/version.h"
#include "tspsim/program/tensor.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <optional>
#include <set>

namespace tsp::compiler {

MemoryMap::MemoryMap(const ChipConfig& config)
    : words_per_slice_(config.geometry.mem_words_per_slice), next_(config.geometry.mem_slices(), 0),
      top_(config.geometry.mem_slices(), config.geometry.mem_words_per_slice),
      released_(config.geometry.mem_slices()) {}

std::optional<uint32_t> MemoryMap::find(const std::vector<unsigned>& mems, uint32_t words, bool reuse) const {
  const auto free_everywhere = [&](uint32_t base) {
    return std::all_of(mems.begin(), mems.end(),
                       [&](unsigned mem) { return free_span(mem, base, base + words); });
  };
  uint32_t high = 0;
  for (unsigned mem : mems) high = std::max(high, next_.at(mem));
  std::optional<uint32_t> best;
  if (free_everywhere(high)) best = high;
  if (!reuse) return best;
  // The lowest base free in every slice starts a free run, or the high-water mark, of one of them.
  for (unsigned mem : mems) {
    for (const auto& run : released_[mem]) {
      if (best && run.first >= *best) break;
      if (free_everywhere(run.first)) {
        best = run.first;
        break;
      }
    }
    if ((!best || next_[mem] < *best) && free_everywhere(next_[mem])) best = next_[mem];
  }
  return best;
}

bool MemoryMap::free_span(unsigned mem, uint32_t begin, uint32_t end) const {
  if (uint64_t{end} > top_[mem]) return false;
  if (begin >= next_[mem]) return true;
  const auto& runs = released_[mem];
  auto it = runs.upper_bound(begin);
  if (it == runs.begin()) return false;
  --it;
  return it->second > begin && (it->second >= end || it->second == next_[mem]);
}

uint32_t MemoryMap::allocate(const std::vector<unsigned>& mems, uint32_t words, const std::string& what,
                             bool reuse) {
  const auto found = find(mems, words, reuse);
  if (!found) {
    uint32_t base = 0;
    for (unsigned mem : mems) base = std::max(base, next_.at(mem));
    throw InputError(fmt::format("{} needs {} words from address {} in its MEM slices; a slice has {} words "
                                 "(the tensors do not fit in MEM)",
                                 what, words, base, words_per_slice_));
  }
  const uint32_t base = *found;
  for (unsigned mem : mems) {
    auto& runs = released_[mem];
    if (base < next_[mem]) {
      // Cut [base, base + words) out of the run that holds it.
      auto it = std::prev(runs.upper_bound(base));
      const uint32_t begin = it->first, end = it->second;
      runs.erase(it);
      if (begin < base) runs[begin] = base;
      if (base + words < end) runs[base + words] = end;
    }
    next_[mem] = std::max(next_[mem], base + words);
  }
  return base;
}

void MemoryMap::release(const std::vector<unsigned>& mems, uint32_t base, uint32_t words) {
  for (unsigned mem : mems) {
    auto& runs = released_[mem];
    uint32_t begin = base, end = base + words;
    // Merge with the runs it touches.
    auto it = runs.upper_bound(begin);
    if (it != runs.begin() && std::prev(it)->second == begin) {
      --it;
      begin = it->first;
      it = runs.erase(it);
    }
    if (it != runs.end() && it->first == end) {
      end = it->second;
      runs.erase(it);
    }
    runs[begin] = end;
  }
}

std::vector<uint32_t> MemoryMap::allocate_each(const std::vector<unsigned>& mems, uint32_t words,
                                               const std::string& what) {
  std::vector<uint32_t> bases;
  for (unsigned mem : mems) {
    const uint32_t base = next_.at(mem);
    if (uint64_t{base} + words > top_.at(mem))
      throw InputError(fmt::format("{} needs {} words from address {} in MEM slice {}; a slice has {} words "
                                   "(the tensors do not fit in MEM)",
                                   what, words, base, mem, words_per_slice_));
    bases.push_back(base);
  }
  for (unsigned mem : mems) next_[mem] += words;
  return bases;
}

namespace {

// MEM bytes a rows x cols tensor of `dtype` takes: a whole word per byte plane for each row of
// each column tile (a partial tile takes whole words). Saturates at 2^64 - 1.
uint64_t tensor_mem_bytes(const TensorSize& tensor, unsigned vector_bytes) {
  const uint64_t tiles = tensor.cols / vector_bytes + (tensor.cols % vector_bytes != 0);
  uint64_t bytes = tiles;
  for (const uint64_t factor :
       {tensor.rows, uint64_t{isa::dtype_bytes(tensor.dtype)}, uint64_t{vector_bytes}})
    if (__builtin_mul_overflow(bytes, factor, &bytes)) return UINT64_MAX;
  return bytes;
}

} // namespace

void require_mem(const ChipConfig& config, const std::string& kernel,
                 const std::vector<TensorSize>& tensors) {
  const auto& g = config.geometry;
  uint64_t total = 0;
  std::vector<std::string> named;
  for (const TensorSize& t : tensors) {
    const uint64_t bytes = tensor_mem_bytes(t, g.vector_bytes());
    const bool alone = bytes > g.sram_bytes();
    if (__builtin_add_overflow(total, bytes, &total)) total = UINT64_MAX;
    named.push_back(fmt::format("'{}' ({} x {} {})", t.name, t.rows, t.cols, isa::dtype_name(t.dtype)));
    if (total <= g.sram_bytes()) continue;
    const uint64_t shown = alone ? bytes : total;
    const std::string amount =
        shown == UINT64_MAX ? fmt::format("more than {}", UINT64_MAX) : fmt::format("{}", shown);
    const std::string what =
        alone ? fmt::format("tensor {} takes {} bytes of MEM", named.back(), amount)
              : fmt::format("tensors {} take {} bytes of MEM together", fmt::join(named, ", "), amount);
    throw InputError(fmt::format("{}: {}; config '{}' has {} ({} MEM slices of {} words of {} bytes): the "
                                 "tensors do not fit in MEM",
                                 kernel, what, config.source, g.sram_bytes(), g.mem_slices(),
                                 g.mem_words_per_slice, g.vector_bytes()));
  }
}

const Bound& binding_bound(const std::vector<Bound>& bounds) {
  return *std::max_element(bounds.begin(), bounds.end(),
                           [](const Bound& a, const Bound& b) { return a.cycles < b.cycles; });
}

std::string prediction_summary(const std::string& workload, uint64_t predicted_cycles,
                               const std::vector<Bound>& bounds) {
  const Bound& bound = binding_bound(bounds);
  return fmt::format("{}: {} cycles predicted; binding bound {} {:.0f} cycles (ratio {:.3f})", workload,
                     predicted_cycles, bound.resource, bound.cycles, double(predicted_cycles) / bound.cycles);
}

namespace {
// The fetch cycles of the compile running on this thread (FetchCycleScope).
thread_local const FetchCycles* kept_fetch_cycles = nullptr;
} // namespace

FetchCycleScope::FetchCycleScope(const FetchCycles& kept) : outer_(kept_fetch_cycles) {
  kept_fetch_cycles = &kept;
}

FetchCycleScope::~FetchCycleScope() { kept_fetch_cycles = outer_; }

ProgramBuilder::ProgramBuilder(const ChipConfig& config) : schedule_(config), memory_(config) {
  if (kept_fetch_cycles)
    for (const auto& [queue, period] : *kept_fetch_cycles) schedule_.keep_fetch_cycles(queue, period);
}

MxmPlaneState& ProgramBuilder::mxm_state(unsigned slice) {
  return mxm_states_.try_emplace(slice, schedule_.config()).first->second;
}

namespace {

// A rows x cols tensor of `dtype` over `mems`, not yet placed, and the words it takes per slice
// with `reserved_rows` rows of addresses.
std::pair<Symbol, uint32_t> unplaced(const std::string& name, isa::DType dtype, uint32_t rows, uint32_t cols,
                                     const std::vector<unsigned>& mems, uint32_t reserved_rows) {
  const auto groups = static_cast<uint32_t>(mems.size() / isa::dtype_bytes(dtype));
  Symbol symbol;
  symbol.name = name;
  symbol.dtype = dtype;
  symbol.rows = rows;
  symbol.cols = cols;
  symbol.slices = mems;
  const uint32_t most = std::max(rows, reserved_rows);
  return {symbol, most / groups + (most % groups != 0)};
}

} // namespace

Symbol ProgramBuilder::add_tensor(const std::string& name, isa::DType dtype, uint32_t rows, uint32_t cols,
                                  const std::vector<unsigned>& mems, uint32_t reserved_rows,
                                  const std::vector<uint8_t>& elements, bool declared) {
  auto [symbol, words] = unplaced(name, dtype, rows, cols, mems, reserved_rows);
  const bool scratch = this->scratch(elements, declared);
  symbol.base = memory_.allocate(mems, words,
                                 name.empty() ? "a tensor copy" : fmt::format("tensor '{}'", name), scratch);
  if (scratch) scratch_.push_back({mems, symbol.base, words});
  return add_placed(std::move(symbol), elements);
}

void ProgramBuilder::release_scratch(const std::vector<const Symbol*>& keep) {
  std::vector<Scratch> kept;
  for (Scratch& s : scratch_) {
    const bool live = std::any_of(keep.begin(), keep.end(), [&](const Symbol* k) {
      return k->bases.empty() && k->base == s.base && k->slices == s.mems;
    });
    if (live)
      kept.push_back(std::move(s));
    else
      memory_.release(s.mems, s.base, s.words);
  }
  scratch_ = std::move(kept);
}

Symbol ProgramBuilder::add_staggered_tensor(const std::string& name, isa::DType dtype, uint32_t rows,
                                            uint32_t cols, const std::vector<unsigned>& mems,
                                            uint32_t reserved_rows, const std::vector<uint8_t>& elements) {
  auto [symbol, words] = unplaced(name, dtype, rows, cols, mems, reserved_rows);
  symbol.bases =
      memory_.allocate_each(mems, words, name.empty() ? "a tensor" : fmt::format("tensor '{}'", name));
  symbol.base = symbol.bases.front();
  return add_placed(std::move(symbol), elements);
}

Symbol ProgramBuilder::add_placed(Symbol symbol, const std::vector<uint8_t>& elements) {
  // MEM is zero at reset, so an all-zero image (an empty KV cache) is not stored.
  if (!elements.empty())
    for (auto& image : tensor_images(symbol, elements, config().geometry.vector_bytes()))
      if (std::any_of(image.bytes.begin(), image.bytes.end(), [](uint8_t b) { return b != 0; }))
        images_.push_back(std::move(image));
  if (!symbol.name.empty()) symbols_.push_back(symbol);
  return symbol;
}

Symbol ProgramBuilder::add_tensor_spread(const std::string& name, isa::DType dtype, uint32_t rows,
                                         uint32_t cols, const std::vector<unsigned>& candidates,
                                         const std::vector<uint8_t>& elements, bool declared) {
  const unsigned bytes = isa::dtype_bytes(dtype);
  const size_t count = candidates.size() / bytes;
  const auto group = [&](size_t g) {
    return std::vector<unsigned>(candidates.begin() + std::ptrdiff_t(g * bytes),
                                 candidates.begin() + std::ptrdiff_t((g + 1) * bytes));
  };
  // Above every word ever used first; a scratch tensor then in released words too, so that a
  // program that compiled without them keeps its placement.
  const bool scratch = this->scratch(elements, declared);
  for (const bool reuse : {false, true}) {
    if (reuse && !scratch) break;
    for (size_t groups = 1; groups <= count; ++groups) {
      const uint32_t words = static_cast<uint32_t>((rows + groups - 1) / groups);
      std::vector<unsigned> mems;
      for (size_t g = 0; g < count && mems.size() < groups * bytes; ++g)
        if (const auto slices = group(g); memory_.fits(slices, words, reuse))
          mems.insert(mems.end(), slices.begin(), slices.end());
      if (mems.size() == groups * bytes && memory_.fits(mems, words, reuse))
        return add_tensor(name, dtype, rows, cols, mems, rows, elements, declared);
    }
  }
  throw InputError(fmt::format("{} ({} rows of {}) does not fit in the free MEM of its {} candidate slices",
                               name.empty() ? "a tensor copy" : fmt::format("tensor '{}'", name), rows,
                               isa::dtype_name(dtype), candidates.size()));
}

namespace {

struct Chunk {
  size_t ifetch; // index of the Ifetch in the text
  size_t first;  // first fetched index
  size_t count;
  Cycle at; // Ifetch dispatch
};

// The cycle of the idle word `w` an Ifetch may take, if any: its first, or with cycles to avoid
// (Ifetches whose text found no MEM port), the first of its idle cycles not among them.
std::optional<Cycle> ifetch_cycle(const TextWord& w, Cycle next_fetch, const std::set<Cycle>& avoid) {
  if (avoid.empty()) return w.pop >= next_fetch ? std::optional<Cycle>(w.pop) : std::nullopt;
  for (Cycle c = std::max(w.pop, next_fetch); c < w.pop + w.idle; ++c)
    if (!avoid.count(c)) return c;
  return std::nullopt;
}

InputError no_text_port(const std::string& queue, uint32_t words, size_t tries) {
  return InputError(
      fmt::format("queue {}: no MEM slice with {} free words has a free bank port in the {} cycles "
                  "its fetched text is read (Ifetch tried in {} idle cycles)",
                  queue, words, words, tries));
}

// The queue's text with Ifetches in it, and their chunks; nothing if some fetched word would
// arrive after the queue needs it. Whenever the buffer has room for a MEM word of text (or half a
// buffer, if smaller) when the queue idles, its first idle cycle (not one in `avoid`) becomes an
// Ifetch of as much of the following text as the buffer will have room for (counting only what
// has left it by then): the buffer stays as full as it can for the stretches in which the queue
// never idles. Chunks arrive in order: an Ifetch waits until the previous chunk's last word is read.
std::optional<std::pair<std::vector<TextWord>, std::vector<Chunk>>>
plan_fetches(const std::vector<TextWord>& text, size_t capacity, size_t per_word, Cycle latency,
             const std::set<Cycle>& avoid) {
  std::vector<TextWord> out;
  std::vector<Chunk> chunks;
  size_t loaded = capacity; // out[0, loaded) is in the initial text or fetched
  Cycle next_fetch = 0;     // the previous chunk's words all arrive before this Ifetch's first
  for (size_t i = 0; i < text.size(); ++i) {
    const TextWord& w = text[i];
    const std::optional<Cycle> at = w.idle > 0 ? ifetch_cycle(w, next_fetch, avoid) : std::nullopt;
    const size_t index = out.size() + (at && *at > w.pop ? 1 : 0); // the Ifetch's, after a NOP
    const size_t left = loaded > index ? loaded - index : 0;
    const bool more = loaded < out.size() + (text.size() - i);
    if (at && more && left + std::min(per_word, capacity / 2) <= capacity) {
      if (*at > w.pop)
        out.push_back({encode(Instruction{isa::Opcode::nop, {*at - w.pop}}), w.pop, *at - w.pop});
      chunks.push_back({out.size(), loaded, capacity - left, *at});
      loaded += capacity - left;
      next_fetch = *at + Cycle((capacity - left + per_word - 1) / per_word);
      out.push_back({0, *at, 0}); // the Ifetch, encoded once its chunk is placed
      const Cycle after = w.pop + w.idle - *at - 1;
      if (after > 0) out.push_back({encode(Instruction{isa::Opcode::nop, {after}}), *at + 1, after});
      continue;
    }
    out.push_back(w);
  }
  if (loaded < out.size()) return std::nullopt;
  for (Chunk& chunk : chunks) {
    chunk.count = std::min(chunk.count, out.size() - std::min(out.size(), chunk.first));
    for (size_t k = 0; k < chunk.count; ++k)
      if (chunk.at + latency + Cycle(k / per_word) > out[chunk.first + k].pop) return std::nullopt;
  }
  return std::make_pair(std::move(out), std::move(chunks));
}

} // namespace

std::optional<std::pair<unsigned, uint32_t>> ProgramBuilder::take_text_words(const std::string& queue,
                                                                             uint32_t words, Cycle read_at) {
  const auto ports_free = [&](unsigned mem, uint32_t base) {
    const size_t mark = schedule_.mark();
    bool ok = true;
    for (uint32_t k = 0; ok && k < words; ++k) ok = schedule_.reserve_bank(mem, base + k, read_at + k);
    if (!ok) schedule_.rollback(mark);
    return ok;
  };
  bool room = false;
  // Borrowed words first: the top, never written, is all that text read after the last Writes can use.
  if (borrowed_)
    for (unsigned mem = 0; mem < config().geometry.mem_slices(); ++mem) {
      const auto base = borrowed_->find(mem, words, read_at + Cycle(words) - 1);
      if (!base) continue;
      room = true;
      if (!ports_free(mem, *base)) continue;
      borrowed_->take(mem, *base, words);
      return std::make_pair(mem, *base);
    }
  // A slice with the words free and a bank port in every read cycle, least used first.
  // Each slice as (used << 32 | slice): one plain sort of integers orders them as a stable sort
  // by use would (a chunk's search sorts them once, and a long queue has hundreds of chunks).
  std::vector<uint64_t> order(config().geometry.mem_slices());
  for (unsigned m = 0; m < order.size(); ++m) order[m] = uint64_t{memory_.used(m)} << 32 | m;
  std::sort(order.begin(), order.end());
  for (const uint64_t key : order) {
    const auto mem = static_cast<unsigned>(key & 0xffffffffu);
    if (uint64_t{memory_.used(mem)} + words > memory_.top(mem)) continue;
    room = true;
    const uint32_t base = memory_.top(mem) - words;
    if (!ports_free(mem, base)) continue;
    memory_.take_top(mem, words);
    return std::make_pair(mem, base);
  }
  if (!room)
    throw InputError(
        fmt::format("queue {}: its fetched text needs {} more consecutive MEM words and no slice "
                    "has them free ({} words per slice)",
                    queue, words, config().geometry.mem_words_per_slice));
  return std::nullopt;
}

// A queue whose text does not fit its buffer fetches the rest; if its Repeats leave it too few
// idle cycles to fetch in time, they are written out with NOPs in their gaps instead. The fetch
// chunks are stored in MEM where their reads find a free bank port; an Ifetch whose reads find
// none anywhere moves to a later idle cycle and the text is planned again.
QueueProgram ProgramBuilder::queue_text(unsigned queue) {
  const auto& config = this->config();
  const size_t capacity = config.icu.instruction_buffer_entries;
  QueueProgram program;
  program.queue = queue;
  std::vector<TextWord> text = schedule_.text(queue);
  if (text.size() <= capacity) {
    for (const auto& w : text) program.words.push_back(w.word);
    return program;
  }
  const std::string& name = schedule_.floorplan().queues()[queue].name;
  const size_t per_word = text_words_per_vector(config.geometry.vector_bytes());
  if (per_word == 0)
    throw InputError(fmt::format("queue {} has {} instructions, more than its {}-entry buffer, and a {}-byte "
                                 "vector cannot hold one {}-byte instruction word to fetch the rest",
                                 name, text.size(), capacity, config.geometry.vector_bytes(),
                                 isa::kInstructionBytes));
  const unsigned vector_bytes = config.geometry.vector_bytes();
  const Cycle latency = Cycle(ifetch_arrival_cycles(config));
  const Cycle read_skew = Cycle(ifetch_read_cycles(config));
  std::set<Cycle> avoid; // Ifetch cycles in which a chunk's reads found no free bank port
  uint32_t unplaced_words = 0;
  for (;;) {
    auto plan = plan_fetches(text, capacity, per_word, latency, avoid);
    if (!plan) plan = plan_fetches(schedule_.text(queue, false), capacity, per_word, latency, avoid);
    if (!plan && !avoid.empty()) throw no_text_port(name, unplaced_words, avoid.size());
    if (!plan) {
      const std::string starved = fmt::format("queue {} has {} instructions and too few idle cycles to fetch "
                                              "them in time into its {}-entry buffer",
                                              name, text.size(), capacity);
      // Another compile can keep (more) fetch cycles idle in this queue, down to kMinFetchCyclePeriod.
      const Cycle kept = schedule_.fetch_cycle_period(queue);
      const Cycle next = (kept != 0 ? kept : Cycle(capacity)) / 2;
      if (next < kMinFetchCyclePeriod) throw InputError(starved);
      throw FetchStarved(starved, {{queue, next}});
    }
    auto& [out, chunks] = *plan;
    const size_t mark = schedule_.mark();
    const size_t images = images_.size();
    std::vector<ImageExtent> taken; // where each placed chunk went
    std::optional<Cycle> unplaced;
    // Last chunk first: a chunk may carry the Ifetch of the next one, which must be encoded first.
    for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) {
      const Chunk& chunk = *it;
      if (chunk.count == 0) {
        out[chunk.ifetch].word = encode(Instruction{isa::Opcode::nop, {1}});
        continue;
      }
      const auto words = static_cast<uint32_t>((chunk.count + per_word - 1) / per_word);
      const auto place = take_text_words(name, words, chunk.at + read_skew);
      if (!place) {
        unplaced = chunk.at;
        unplaced_words = words;
        break;
      }
      const auto [mem, base] = *place;
      taken.push_back({mem, base, words});
      MemImage image{mem, base, std::vector<uint8_t>(size_t(words) * vector_bytes, 0)};
      for (size_t k = 0; k < chunk.count; ++k)
        put_text_word(&image.bytes[k / per_word * vector_bytes], unsigned(k % per_word),
                      out[chunk.first + k].word);
      images_.push_back(std::move(image));
      const auto& info = schedule_.floorplan().slices()[schedule_.floorplan().slice_of_mem(mem)];
      Instruction ifetch{isa::Opcode::ifetch, {}};
      ifetch.operands[0] = static_cast<int64_t>(Floorplan::mem_field(info.east, info.index));
      ifetch.operands[1] = base;
      ifetch.operands[2] = words;
      out[chunk.ifetch].word = encode(ifetch);
    }
    if (!unplaced) {
      for (size_t k = 0; k < capacity; ++k) program.words.push_back(out[k].word);
      return program;
    }
    schedule_.rollback(mark);
    images_.erase(images_.begin() + std::ptrdiff_t(images), images_.end());
    for (const ImageExtent& chunk : taken)
      if (chunk.address >= memory_.used(chunk.mem)) // the top, above every tensor
        memory_.give_back_top(chunk.mem, chunk.words);
      else
        borrowed_->give_back(chunk.mem, chunk.address, chunk.words);
    avoid.insert(*unplaced);
    if (avoid.size() >= kMaxIfetchMoves) throw no_text_port(name, unplaced_words, avoid.size());
  }
}

Program ProgramBuilder::finish(const std::string& workload, uint64_t tokens_per_run) {
  Program program;
  program.fingerprint = geometry_fingerprint(config());
  if (reuse_) {
    std::vector<ImageExtent> declared;
    for (const auto& [symbol, tensor] : random_)
      for (const ImageExtent& extent : declared_extents(tensor, symbol)) declared.push_back(extent);
    borrowed_.emplace(schedule_, images_, declared);
  }
  // Every starved queue at once, so that one more compile can keep fetch cycles in all of them.
  std::optional<FetchStarved> starved;
  for (unsigned q = 0; q < schedule_.floorplan().queues().size(); ++q) {
    if (schedule_.queue_slots(q).empty()) continue;
    try {
      program.queues.push_back(queue_text(q));
    } catch (const FetchStarved& e) {
      FetchCycles retry = starved ? starved->retry() : FetchCycles{};
      retry.insert(e.retry().begin(), e.retry().end());
      const std::string first = starved ? starved->what() : e.what();
      starved.emplace(first, std::move(retry));
    }
  }
  if (starved) throw *starved;
  borrowed_.reset();
  program.images = images_;
  program.symbols = symbols_;
  for (const auto& [symbol, declared] : random_) add_random_tensor(program, symbol, declared);
  program.metadata.workload = workload;
  program.metadata.generator = fmt::format("tspc {}", kVersion);
  program.metadata.tokens_per_run = tokens_per_run;
  program.metadata.predicted_cycles = schedule_.predicted_cycles();
  program.regions = region_runs();
  return program;
}

RegionScope::RegionScope(ProgramBuilder& builder, const Region& region)
    : builder_(builder), outer_(builder.schedule().region()) {
  builder.schedule().set_region(builder.region_index(region));
}

RegionScope::~RegionScope() { builder_.schedule().set_region(outer_); }

uint32_t ProgramBuilder::region_index(const Region& region) {
  const auto it = std::find(regions_.begin(), regions_.end(), region);
  if (it != regions_.end()) return static_cast<uint32_t>(it - regions_.begin());
  regions_.push_back(region);
  return static_cast<uint32_t>(regions_.size() - 1);
}

// Per queue, a run wherever the region of consecutive instructions changes.
ProgramRegions ProgramBuilder::region_runs() const {
  ProgramRegions out;
  if (regions_.empty()) return out;
  out.regions = regions_;
  for (unsigned q = 0; q < schedule_.floorplan().queues().size(); ++q) {
    uint32_t current = RegionRun::kNoRegion;
    for (const PlacedSlot& slot : schedule_.queue_slots(q)) {
      if (slot.region == current) continue;
      out.runs.push_back({q, static_cast<uint64_t>(slot.t), slot.region});
      current = slot.region;
    }
  }
  return out;
}

} // namespace tsp::compiler
