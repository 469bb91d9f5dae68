#include "tspsim/system/system.h"

#include "tspsim/common/error.h"
#include "tspsim/common/fnv1a.h"
#include "tspsim/program/latency.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <stdexcept>

namespace tsp {

namespace {
constexpr uint32_t kNoPeer = ~uint32_t{0};

// The parts of a program that decide what a chip does: every queue's text (with its source lines,
// which error messages name), the stored memory images and the declared tensors (their
// declarations and where their symbols place them). Metadata and other symbols only label it.
// Hashed in place: a copy of these bytes per program was most of a long program's peak memory.
uint64_t behaviour_hash(const Program& program) {
  Fnv1a h;
  for (const auto& queue : program.queues) {
    h.u64(queue.queue);
    h.u64(queue.words.size());
    h.bytes(queue.words.data(), queue.words.size() * sizeof(uint64_t));
    h.u64(queue.lines.size());
    h.bytes(queue.lines.data(), queue.lines.size() * sizeof(uint32_t));
  }
  for (const auto& image : program.images) {
    h.u64(image.mem);
    h.u64(image.address);
    h.u64(image.bytes.size());
    h.bytes(image.bytes.data(), image.bytes.size());
  }
  for (const auto& d : program.declared) {
    const Symbol& s = program.symbols.at(d.symbol);
    for (uint64_t v :
         {d.seed, uint64_t(d.vector_bytes), uint64_t(d.row_stride), uint64_t(d.first_row),
          uint64_t(d.row_count), uint64_t(d.values), uint64_t(s.dtype), uint64_t(s.rows), uint64_t(s.cols),
          uint64_t(s.base)})
      h.u64(v);
    h.bytes(&d.divisor, sizeof d.divisor);
    h.u64(d.offset);
    for (const std::string* text : {&d.checkpoint.file, &d.checkpoint.tensor}) {
      h.u64(text->size());
      h.bytes(text->data(), text->size());
    }
    h.u64(d.checkpoint.transposed);
    h.u64(d.checkpoint.rotary_head_dim);
    h.u64(s.slices.size());
    h.bytes(s.slices.data(), s.slices.size() * sizeof(uint32_t));
    h.u64(s.bases.size());
    h.bytes(s.bases.data(), s.bases.size() * sizeof(uint32_t));
  }
  return h.value();
}

bool same_declaration(const DeclaredTensor& a, const Symbol& as, const DeclaredTensor& b, const Symbol& bs) {
  return a.seed == b.seed && a.vector_bytes == b.vector_bytes && a.row_stride == b.row_stride &&
         a.first_row == b.first_row && a.row_count == b.row_count && a.values == b.values &&
         std::memcmp(&a.divisor, &b.divisor, sizeof a.divisor) == 0 && a.offset == b.offset &&
         a.checkpoint.file == b.checkpoint.file && a.checkpoint.tensor == b.checkpoint.tensor &&
         a.checkpoint.transposed == b.checkpoint.transposed &&
         a.checkpoint.rotary_head_dim == b.checkpoint.rotary_head_dim && as.dtype == bs.dtype &&
         as.rows == bs.rows && as.cols == bs.cols && as.base == bs.base && as.slices == bs.slices &&
         as.bases == bs.bases;
}

// Whether two programs agree in every part behaviour_hash reads.
bool same_behaviour(const Program& a, const Program& b) {
  if (&a == &b) return true;
  const auto same_queue = [](const QueueProgram& x, const QueueProgram& y) {
    return x.queue == y.queue && x.words == y.words && x.lines == y.lines;
  };
  const auto same_image = [](const MemImage& x, const MemImage& y) {
    return x.mem == y.mem && x.address == y.address && x.bytes == y.bytes;
  };
  const auto same_declared = [&](const DeclaredTensor& x, const DeclaredTensor& y) {
    return same_declaration(x, a.symbols.at(x.symbol), y, b.symbols.at(y.symbol));
  };
  return std::equal(a.queues.begin(), a.queues.end(), b.queues.begin(), b.queues.end(), same_queue) &&
         std::equal(a.images.begin(), a.images.end(), b.images.begin(), b.images.end(), same_image) &&
         std::equal(a.declared.begin(), a.declared.end(), b.declared.begin(), b.declared.end(),
                    same_declared);
}

// What a chip's behaviour in a timing-only run depends on besides its arrivals: its program and
// every config value the engine reads. Chips with equal identities and equal arrivals behave
// identically.
struct Identity {
  const Program* program = nullptr;
  uint64_t program_hash = 0; // behaviour_hash(*program)
  uint64_t geometry = 0;
  uint32_t vector_cycles = 0;
  double drift_ppm = 0;

  uint64_t hash() const {
    uint64_t h = program_hash;
    for (uint64_t v : {geometry, uint64_t(vector_cycles)}) h = (h ^ v) * 0x100000001b3ULL;
    uint64_t drift_bits = 0;
    std::memcpy(&drift_bits, &drift_ppm, sizeof drift_bits);
    return (h ^ drift_bits) * 0x100000001b3ULL;
  }
  bool operator==(const Identity& o) const {
    return program_hash == o.program_hash && geometry == o.geometry && vector_cycles == o.vector_cycles &&
           drift_ppm == o.drift_ppm && same_behaviour(*program, *o.program);
  }
};
} // namespace

System::System(sc_core::sc_module_name name, const SystemConfig& config, const SystemProgram& program,
               const SystemOptions& options)
    : sc_core::sc_module(name), config_(config), program_(program), options_(options),
      // A thread beyond one per chip would have no chip to run: --threads 100000 starts 8 on node8.
      pool_(std::clamp(options.threads, 1u, std::max(1u, config.chips()))) {
  if (options.engine.debug_clock) throw InputError("--debug-clock runs one chip; a system is driven by windows");
  if (program.chips() != config.chips())
    throw InputError(fmt::format("the system program has {} chips; system '{}' has {}", program.chips(),
                                 config.name, config.chips()));
  const uint32_t n = config.chips();
  for (uint32_t c = 0; c < n; ++c) max_links_ = std::max(max_links_, config.config_of(c).c2c.links);
  peers_.assign(size_t(n) * max_links_, LinkEnd{kNoPeer, 0});
  for (const Cable& cable : config.cables) {
    peers_[size_t(cable.a.chip) * max_links_ + cable.a.link] = cable.b;
    peers_[size_t(cable.b.chip) * max_links_ + cable.b.link] = cable.a;
  }
  for (uint32_t c = 0; c < n; ++c) {
    chips_.push_back(std::make_unique<Chip>(fmt::format("chip{}", c).c_str(), config.config_of(c), options.engine,
                                            ChipDriver::system));
    chips_.back()->context().links.set_cabled();
    chips_.back()->set_max_cycles(options.max_cycles);
  }
  // Each chip copies its own images into its own SRAM: on the pool's threads (SystemC has made the
  // modules above on this one).
  pool_.run(n, [&](size_t c) { chips_[c]->load(program.program_of(static_cast<uint32_t>(c))); });

  // Classes of chips proven identical (replication), or one class per chip.
  class_of_.assign(n, nullptr);
  const bool replicate = options.replicate && options.engine.timing_only;
  std::map<uint64_t, std::vector<std::pair<Identity, Class*>>> by_hash;
  std::vector<std::optional<uint64_t>> program_hash(program.programs.size());
  for (uint32_t c = 0; c < n; ++c) {
    Class* cls = nullptr;
    Identity id;
    if (replicate) {
      auto& hash = program_hash[program.chip_program[c]];
      if (!hash) hash = behaviour_hash(program.program_of(c));
      const ChipConfig& chip_config = config.config_of(c);
      id = {&program.program_of(c), *hash, geometry_fingerprint(chip_config), c2c_vector_cycles(chip_config),
            chip_config.c2c.drift_ppm};
      for (auto& [known, known_class] : by_hash[id.hash()])
        if (known == id) cls = known_class;
    }
    if (!cls) {
      classes_.push_back(std::make_unique<Class>(Class{c, {}, {}}));
      cls = classes_.back().get();
      simulated_.push_back(c);
      if (replicate) by_hash[id.hash()].push_back({std::move(id), cls});
    }
    cls->members.push_back(c);
    class_of_[c] = cls;
  }
  window_ = window_cycles();
  work_.resize(n);
  for (auto& parity : sent_) {
    parity.resize(n);
    for (uint32_t c = 0; c < n; ++c) parity[c].resize(chips_[c]->context().links.links());
  }
  SC_METHOD(drive);
}

System::~System() = default;

void System::observe_chip(uint32_t chip, ActivityObserver* observer) {
  chips_[chip]->context().stats.set_observer(observer);
}

const LinkEnd* System::peer(uint32_t chip, uint32_t link) const {
  if (link >= max_links_) return nullptr;
  const LinkEnd& end = peers_[size_t(chip) * max_links_ + link];
  return end.chip == kNoPeer ? nullptr : &end;
}

// The look-ahead: no vector sent in a window can arrive before the window ends. With drift, the
// conversion between clocks moves an arrival by a fraction of a cycle per window, so two cycles
// are kept in hand.
Cycle System::window_cycles() const {
  Cycle latency = kNever;
  bool drift = false;
  for (uint32_t c = 0; c < config_.chips(); ++c) {
    const ChipConfig& chip = config_.config_of(c);
    latency = std::min<Cycle>(latency, chip.timing[isa::TimingParam::c2c_link]);
    drift = drift || chip.c2c.drift_ppm != 0;
  }
  if (latency == kNever) return 1;
  const Cycle margin = drift ? 2 : 0;
  return latency > margin + 1 ? latency - margin : 1;
}

bool System::all_done() const {
  return std::all_of(simulated_.begin(), simulated_.end(), [&](uint32_t c) { return chips_[c]->done(); });
}

void System::step_window(Cycle end) {
  pool_.run(simulated_.size(), [&](size_t i) {
    Chip& chip = *chips_[simulated_[i]];
    chip.advance(chip.context().clock.local(end));
  });
}

LinkSend System::observed_send(uint32_t chip, const C2cLinks::Sent& sent, const LinkEnd* far,
                               Cycle arrival) const {
  LinkSend send;
  send.chip = chip;
  send.link = sent.link;
  send.start = sent.start;
  send.end = sent.start + chips_[chip]->context().links.vector_cycles();
  send.cabled = far != nullptr;
  if (far) send.peer = *far;
  send.arrival = arrival;
  send.origin = sent.vector.origin;
  return send;
}

// Moves every vector sent in the window to the far end of its cable, in the receiver's clock.
// Each link has one sender, so arrivals on a link stay in send order whatever the thread count.
void System::exchange(Cycle end) {
  const uint32_t n = config_.chips();
  auto& arrivals = arrivals_;
  arrivals.resize(n);
  for (auto& list : arrivals) list.clear();
  for (uint32_t r : simulated_) {
    chips_[r]->context().links.take_outbox(taken_);
    const Class& cls = *class_of_[r];
    for (uint32_t c : cls.members) {
      const ChipClock& sender = chips_[c]->context().clock;
      for (const auto& s : taken_) {
        const LinkEnd* far = peer(c, s.link);
        if (!far) {
          ++result_.vectors_unconnected;
          if (link_observer_) link_observer_->sent(observed_send(c, s, nullptr, kNever));
          continue;
        }
        const ChipClock& receiver = chips_[far->chip]->context().clock;
        const Cycle arrival = receiver.local(sender.reference(s.vector.arrival));
        if (link_observer_) link_observer_->sent(observed_send(c, s, far, arrival));
        check_arrival(*far, arrival, receiver.local(end));
        arrivals[far->chip].push_back({far->link, {arrival, s.vector.bytes, s.vector.origin}});
      }
    }
  }
  for (uint32_t c = 0; c < n; ++c) result_.vectors_delivered += arrivals[c].size();

  const size_t existing = classes_.size();
  for (size_t k = 0; k < existing; ++k)
    if (classes_[k]->members.size() > 1) split(*classes_[k], arrivals, end);

  for (uint32_t r : simulated_) {
    Class& cls = *class_of_[r];
    for (auto& a : arrivals[r]) {
      if (cls.members.size() > 1) cls.history.push_back(a);
      chips_[r]->context().links.deliver(a.link, std::move(a.vector));
    }
  }
}

void System::check_arrival(const LinkEnd& far, Cycle arrival, Cycle window_end) {
  if (arrival < window_end)
    throw std::logic_error(
        fmt::format("window protocol: chip {} link {} vector arrives at {}, before the window end {}",
                    far.chip, far.link, arrival, window_end));
}

// With every chip simulated (no replication left) and no link observer, the exchange needs no
// serial phase: each chip's job sorts its own sends by link, and in the next window's job takes
// what its cabled peers sent it before it advances. One barrier per window, and a chip's state is
// touched only by the thread that runs it. Each link has one sender, so a link's arrivals come in
// send order as in exchange(), and the chips see the same arrivals at the same cycles.
void System::step_in_parallel(Cycle end) {
  auto& sent = sent_[result_.windows & 1];
  auto& last = sent_[(result_.windows & 1) ^ 1];
  const Cycle sent_by = now_;
  const bool pending = pending_;
  pool_.run(chips_.size(), [&](size_t c) {
    const auto chip = static_cast<uint32_t>(c);
    if (pending) receive(chip, last, sent_by);
    chips_[c]->advance(chips_[c]->context().clock.local(end));
    collect(chip, sent[c]);
  });
  pending_ = true;
}

void System::collect(uint32_t chip, SentByLink& sent) {
  ChipWork& work = work_[chip];
  for (auto& link : sent) link.clear();
  chips_[chip]->context().links.take_outbox(work.taken);
  for (auto& s : work.taken) {
    if (peer(chip, s.link))
      sent[s.link].push_back(std::move(s));
    else
      ++work.unconnected;
  }
}

// The vectors the chips cabled to `chip` sent in the window that ended at `sent_by`, delivered.
// Another thread may be reading the same senders' lists for its own chips: each vector has one
// receiver, so each is moved by one thread only.
void System::receive(uint32_t chip, std::vector<SentByLink>& sent, Cycle sent_by) {
  EngineContext& context = chips_[chip]->context();
  const Cycle window_end = context.clock.local(sent_by);
  for (unsigned link = 0; link < context.links.links(); ++link) {
    const LinkEnd* far = peer(chip, link);
    if (!far) continue;
    const ChipClock& sender = chips_[far->chip]->context().clock;
    for (auto& s : sent[far->chip][far->link]) {
      C2cLinks::Vector vector = std::move(s.vector);
      vector.arrival = context.clock.local(sender.reference(vector.arrival));
      check_arrival({chip, link}, vector.arrival, window_end);
      context.links.deliver(link, std::move(vector));
      ++work_[chip].delivered;
    }
  }
}

// Delivers the last window's sends once the chips have stopped.
void System::receive_pending() {
  if (!pending_) return;
  auto& last = sent_[(result_.windows & 1) ^ 1];
  pool_.run(chips_.size(), [&](size_t c) { receive(static_cast<uint32_t>(c), last, now_); });
  pending_ = false;
}

// Members whose arrivals differ from the representative's are no longer proven identical: each
// group of equal arrivals becomes a class of its own, whose new representative catches up by
// replaying the class's history (delivering early is harmless: a Receive takes only what has
// arrived by its cycle).
void System::split(Class& cls, const std::vector<std::vector<Arrival>>& arrivals, Cycle end) {
  using Signature = std::vector<std::pair<uint32_t, Cycle>>;
  auto signature = [&](uint32_t c) {
    Signature s;
    for (const auto& a : arrivals[c]) s.emplace_back(a.link, a.vector.arrival);
    std::sort(s.begin(), s.end()); // the order of senders is not part of what a chip sees
    return s;
  };
  const Signature own = signature(cls.representative);
  std::vector<uint32_t> staying;
  std::vector<std::pair<Signature, std::vector<uint32_t>>> leaving;
  for (uint32_t m : cls.members) {
    Signature s = signature(m);
    if (s == own) {
      staying.push_back(m);
      continue;
    }
    auto it = std::find_if(leaving.begin(), leaving.end(), [&](const auto& g) { return g.first == s; });
    if (it == leaving.end())
      leaving.push_back({std::move(s), {m}});
    else
      it->second.push_back(m);
  }
  if (leaving.empty()) return;
  cls.members = staying;
  for (auto& [s, members] : leaving) {
    classes_.push_back(std::make_unique<Class>(Class{members.front(), members, cls.history}));
    Class& fresh = *classes_.back();
    Chip& chip = *chips_[fresh.representative];
    for (const auto& a : fresh.history) chip.context().links.deliver(a.link, a.vector);
    chip.advance(chip.context().clock.local(end));
    chip.context().links.take_outbox(taken_); // already delivered on behalf of the old representative
    for (uint32_t m : members) class_of_[m] = &fresh;
    simulated_.insert(std::upper_bound(simulated_.begin(), simulated_.end(), fresh.representative),
                      fresh.representative);
  }
}

// One activation per window.
void System::drive() {
  const Cycle end = now_ + window_;
  if (all_simulated()) {
    step_in_parallel(end);
  } else { // replication or a link observer: a serial exchange (no sends are pending in this mode)
    step_window(end);
    exchange(end);
  }
  now_ = end;
  ++result_.windows;
  bool stop = false;
  for (uint32_t r : simulated_) stop = stop || chips_[r]->context().log.stop_requested();
  if (stop || all_done()) {
    receive_pending();
    return;
  }
  // Kernel time only orders the activations; cycle counts are the chips' own.
  next_trigger(sc_core::sc_time(double(window_) * 1e6 / chips_.front()->context().config.clock_mhz, sc_core::SC_PS));
}

SystemResult System::run() {
  const auto start = std::chrono::steady_clock::now();
  if (config_.chips() != 0) sc_core::sc_start();
  result_.host_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const ChipWork& work : work_) {
    result_.vectors_delivered += work.delivered;
    result_.vectors_unconnected += work.unconnected;
  }
  result_.window = window_;
  result_.threads = pool_.threads();
  result_.chips_simulated = static_cast<uint32_t>(simulated_.size());
  result_.chips_reused = config_.chips() - result_.chips_simulated;
  result_.chips.clear();
  for (uint32_t c = 0; c < config_.chips(); ++c) {
    result_.chips.push_back(simulated(c).result());
    const RunResult& r = result_.chips.back();
    result_.cycles = std::max(result_.cycles, r.cycles);
    result_.interrupted = result_.interrupted || r.interrupted;
    if (r.stopped_strict && !result_.stopped_strict) {
      result_.stopped_strict = true;
      result_.strict_message = fmt::format("chip {}: {}", c, r.strict_message);
    }
  }
  return result_;
}

} // namespace tsp
