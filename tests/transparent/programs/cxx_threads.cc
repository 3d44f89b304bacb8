// C++ std::thread with iostreams and exceptions across a restart.
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  int steps = argc > 1 ? std::stoi(argv[1]) : 30;
  std::mutex mu;
  long total = 0;
  for (int s = 0; s < steps; s++) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
      ts.emplace_back([&, t] {
        long local = 0;
        try {
          if ((s + t) % 3 == 0) throw std::runtime_error("step " + std::to_string(s));
          local = s * 10 + t;
        } catch (const std::exception& e) {
          local = long(std::string(e.what()).size());
        }
        std::lock_guard<std::mutex> g(mu);
        total += local;
      });
    for (auto& t : ts) t.join();
    std::cout << "step " << s << " total " << total << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}
