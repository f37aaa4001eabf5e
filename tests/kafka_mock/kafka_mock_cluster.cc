// vigil_kafka_mock: librdkafka's mock Kafka cluster (rdkafka_mock.h) as a process of its own, for
// tests and benchmarks. It speaks the real Kafka protocol on loopback ports.
//
//   vigil_kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... [--control FIFO]
//
// Prints "bootstrap <host:port,...>" on stdout once the brokers listen, then reads commands, one
// a line, from stdin (or from the named pipe --control makes): "down <id>|all", "up <id>|all",
// "topic NAME:PARTITIONS", "quit"; each answered by "ok" or "error ..." on stdout. It exits at
// "quit" or at the end of stdin (a --control pipe never ends: stop it with a signal).

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

bool CreateTopic(rd_kafka_mock_cluster_t* cluster, const std::string& spec, int brokers) {
  const size_t colon = spec.rfind(':');
  const std::string name = spec.substr(0, colon);
  const int partitions = colon == std::string::npos ? 1 : std::atoi(spec.c_str() + colon + 1);
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster, name.c_str(), partitions > 0 ? partitions : 1, brokers);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::cerr << "topic " << name << ": " << rd_kafka_err2str(err) << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  std::vector<std::string> topics;
  std::string control;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--brokers" && i + 1 < argc) {
      brokers = std::atoi(argv[++i]);
    } else if (a == "--topic" && i + 1 < argc) {
      topics.emplace_back(argv[++i]);
    } else if (a == "--control" && i + 1 < argc) {
      control = argv[++i];
    } else {
      std::cerr << "usage: vigil_kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... "
                   "[--control FIFO]\n";
      return 2;
    }
  }
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the cluster; keep it quiet.
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) {
    std::cerr << "rd_kafka_new: " << err << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    std::cerr << "could not create the mock cluster\n";
    return 1;
  }
  for (const auto& t : topics) {
    if (!CreateTopic(cluster, t, brokers)) return 1;
  }
  std::ifstream fifo;
  if (!control.empty()) {
    if (::mkfifo(control.c_str(), 0600) != 0 && errno != EEXIST) {
      std::cerr << "mkfifo " << control << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    // Held open for writing too, so the pipe never reads as ended between writers.
    static const int keep = ::open(control.c_str(), O_RDWR);
    (void)keep;
    fifo.open(control);
  }
  std::istream& commands = control.empty() ? std::cin : fifo;
  std::cout << "bootstrap " << rd_kafka_mock_cluster_bootstraps(cluster) << std::endl;
  std::string line;
  while (std::getline(commands, line)) {
    std::istringstream in(line);
    std::string cmd, arg;
    in >> cmd >> arg;
    const int32_t id = arg == "all" ? -1 : std::atoi(arg.c_str());
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cmd == "down") {
      e = rd_kafka_mock_broker_set_down(cluster, id);
    } else if (cmd == "up") {
      e = rd_kafka_mock_broker_set_up(cluster, id);
    } else if (cmd == "topic") {
      if (!CreateTopic(cluster, arg, brokers)) e = RD_KAFKA_RESP_ERR__FAIL;
    } else if (cmd == "quit") {
      break;
    } else if (!cmd.empty()) {
      std::cout << "error unknown command " << cmd << std::endl;
      continue;
    }
    std::cout << (e == RD_KAFKA_RESP_ERR_NO_ERROR ? "ok"
                                                  : std::string("error ") + rd_kafka_err2str(e))
              << std::endl;
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
