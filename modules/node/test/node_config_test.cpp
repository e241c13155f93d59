#include <gtest/gtest.h>

#include "pneumo/node/node.hpp"

namespace pneumo {
namespace {

TEST(ParseDestination, AcceptsAetHostPortAndNamesWhatIsWrong) {
  auto d = parse_destination("ORTHANC@127.0.0.1:4242");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(*d, (DicomPeer{"ORTHANC", "127.0.0.1", 4242}));
  auto h = parse_destination("PACS@pacs.example.org:104");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->host, "pacs.example.org");
  for (const char* bad : {"ORTHANC127.0.0.1:4242", "@h:1", "A@:1", "A@h:0", "A@h:65536", "A@h:12x", "A@h",
                          "AAAAAAAAAAAAAAAAA@h:1"}) {
    auto r = parse_destination(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

TEST(SafeInstanceUid, RejectsPathsAndAcceptsUidsAndSiimIds) {
  EXPECT_TRUE(is_safe_instance_uid("1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027"));
  EXPECT_TRUE(is_safe_instance_uid("ID_0a1b2c3d4"));
  for (const char* bad : {"", "../etc/passwd", "1.2/3", "1.2\\3", "..", "1..2", ".hidden", "1.2.3 ", "1.2\n3",
                          "1234567890123456789012345678901234567890123456789012345678901234567890"}) {
    EXPECT_FALSE(is_safe_instance_uid(bad)) << bad;
  }
}

TEST(NodeConfigJson, KeysOverrideDefaultsAndUnknownKeysAreErrors) {
  NodeConfig c;
  auto st = apply_node_config_json(
      nlohmann::json::parse(R"({"ae_title": "AI", "port": 4000, "storage": "/tmp/x", "destination": "P@h:11",
                               "workers": 2, "allowed_calling_aes": ["MOD1"], "max_dataset_mb": 8})"),
      "node.json", c);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(c.ae_title, "AI");
  EXPECT_EQ(c.port, 4000);
  EXPECT_EQ(c.storage, "/tmp/x");
  EXPECT_EQ(*c.destination, (DicomPeer{"P", "h", 11}));
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.allowed_calling_aes, std::vector<std::string>{"MOD1"});
  EXPECT_DOUBLE_EQ(c.max_dataset_mb, 8);
  EXPECT_EQ(c.batch, 4);  // untouched default

  auto unknown = apply_node_config_json(nlohmann::json::parse(R"({"prot": 1})"), "node.json", c);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("node.json: key \"prot\""), std::string::npos) << unknown.error().message;
  auto type = apply_node_config_json(nlohmann::json::parse(R"({"port": "x"})"), "node.json", c);
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.error().message.find("\"port\""), std::string::npos);
  auto dest = apply_node_config_json(nlohmann::json::parse(R"({"destination": "nope"})"), "node.json", c);
  ASSERT_FALSE(dest.ok());
}

}  // namespace
}  // namespace pneumo
