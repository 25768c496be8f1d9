// `run -p` values -> the body's "ports", and the ports as ps and `trumanctl port` print them.
#include "truman/client/port_commands.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using nlohmann::json;
using namespace truman::client;

TEST(TrumanctlPublish, DockersFormsBecomeThePortsOfTheBody) {
    EXPECT_EQ(publish_from_flag("8080:80"),
              (json{{"host_port", 8080}, {"container_port", 80}, {"proto", "tcp"}}));
    EXPECT_EQ(publish_from_flag("127.0.0.1:5353:53/udp"), (json{{"host_ip", "127.0.0.1"},
                                                                {"host_port", 5353},
                                                                {"container_port", 53},
                                                                {"proto", "udp"}}));
    EXPECT_EQ(publish_from_flag("80"),
              (json{{"host_port", 0}, {"container_port", 80}, {"proto", "tcp"}}));
    EXPECT_EQ(
        publish_from_flag("192.0.2.1::80"),
        (json{
            {"host_ip", "192.0.2.1"}, {"host_port", 0}, {"container_port", 80}, {"proto", "tcp"}}));
    EXPECT_EQ(publish_from_flag("8000-8001:80-81"), (json{{"host_port", 8000},
                                                          {"host_port_end", 8001},
                                                          {"container_port", 80},
                                                          {"container_port_end", 81},
                                                          {"proto", "tcp"}}));
    // IPv6 host addresses in brackets, as Docker's.
    EXPECT_EQ(publish_from_flag("[2001:db8::2]:8080:80/udp"), (json{{"host_ip", "2001:db8::2"},
                                                                    {"host_port", 8080},
                                                                    {"container_port", 80},
                                                                    {"proto", "udp"}}));
    EXPECT_EQ(
        publish_from_flag("[::]::80"),
        (json{{"host_ip", "::"}, {"host_port", 0}, {"container_port", 80}, {"proto", "tcp"}}));
    EXPECT_THROW(publish_from_flag("[]:8080:80"), std::invalid_argument);
    EXPECT_THROW(publish_from_flag("[::1:8080:80"), std::invalid_argument);
    EXPECT_THROW(publish_from_flag("[::1]:80"), std::invalid_argument);
    EXPECT_THROW(publish_from_flag("web:80"), std::invalid_argument);
    EXPECT_THROW(publish_from_flag(":8080:80"), std::invalid_argument);
    EXPECT_THROW(publish_from_flag("8080:"), std::invalid_argument);
}

TEST(TrumanctlPublish, PortsPrintLikeDockersPsColumn) {
    json ports = json::array({{{"host_ip", "0.0.0.0"},
                               {"host_port", 8080},
                               {"host_port_end", 8080},
                               {"container_port", 80},
                               {"container_port_end", 80},
                               {"proto", "tcp"}},
                              {{"host_ip", "127.0.0.1"},
                               {"host_port", 9000},
                               {"host_port_end", 9001},
                               {"container_port", 80},
                               {"container_port_end", 81},
                               {"proto", "udp"}}});
    EXPECT_EQ(ports_text(ports), "0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->80-81/udp");
    ports[1]["host_ip"] = "2001:db8::2";
    EXPECT_EQ(ports_text(ports), "0.0.0.0:8080->80/tcp, [2001:db8::2]:9000-9001->80-81/udp");
    EXPECT_EQ(ports_text(json::array()), "");
}
