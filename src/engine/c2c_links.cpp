#include "tspsim/engine/c2c_links.h"

namespace tsp {

C2cLinks::C2cLinks(unsigned links, bool loopback) : loopback_(loopback), links_(links) {}

void C2cLinks::send(unsigned link, Cycle arrival, std::vector<uint8_t> bytes, const Origin& origin) {
  if (!loopback_ || link >= links_.size()) return;
  // Sends have one fixed latency, so arrivals are in send order.
  links_[link].push_back({arrival, std::move(bytes), origin});
}

std::optional<C2cLinks::Vector> C2cLinks::receive(unsigned link, Cycle t) {
  if (link >= links_.size() || links_[link].empty() || links_[link].front().arrival > t) return std::nullopt;
  Vector vector = std::move(links_[link].front());
  links_[link].pop_front();
  return vector;
}

} // namespace tsp
