#include "tspsim/engine/c2c_links.h"

#include "tspsim/program/latency.h"

#include <algorithm>

namespace tsp {

C2cLinks::C2cLinks(const ChipConfig& config)
    : loopback_(config.c2c.loopback), vector_cycles_(c2c_vector_cycles(config)), incoming_(config.c2c.links),
      busy_until_(config.c2c.links, 0), stats_(config.c2c.links) {}

std::optional<Cycle> C2cLinks::send(unsigned link, Cycle t, Cycle arrival, std::vector<uint8_t> bytes,
                                    const Origin& origin) {
  if (link >= incoming_.size()) return std::nullopt;
  std::optional<Cycle> overrun;
  if (t < busy_until_[link]) overrun = busy_until_[link];
  const Cycle start = std::max(busy_until_[link], t);
  busy_until_[link] = start + vector_cycles_;
  ++stats_[link].vectors_sent;
  stats_[link].busy_cycles += vector_cycles_;
  Vector vector{arrival, std::move(bytes), origin};
  if (loopback_)
    deliver(link, std::move(vector));
  else
    outbox_.push_back({link, start, std::move(vector)});
  return overrun;
}

std::optional<C2cLinks::Vector> C2cLinks::receive(unsigned link, Cycle t) {
  if (link >= incoming_.size() || incoming_[link].empty() || incoming_[link].front().arrival > t) return std::nullopt;
  Vector vector = std::move(incoming_[link].front());
  incoming_[link].pop_front();
  ++stats_[link].vectors_received;
  return vector;
}

void C2cLinks::take_outbox(std::vector<Sent>& into) {
  into.clear();
  into.swap(outbox_);
}

void C2cLinks::deliver(unsigned link, Vector vector) {
  if (link < incoming_.size()) incoming_[link].push_back(std::move(vector));
}

} // namespace tsp
