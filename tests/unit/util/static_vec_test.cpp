#include "util/static_vec.hpp"

#include <gtest/gtest.h>

#include <variant>

namespace fulcrum {
namespace {

using V = std::variant<int, double>;

TEST(StaticVec, PushBackUpToCapacityThenRefuses) {
  StaticVec<int, 3> v;
  EXPECT_TRUE(v.empty());
  EXPECT_TRUE(v.push_back(1));
  EXPECT_TRUE(v.push_back(2));
  EXPECT_TRUE(v.push_back(3));
  EXPECT_TRUE(v.full());
  EXPECT_FALSE(v.push_back(4));
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[2], 3);
  v.clear();
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.begin(), v.end());
}

TEST(StaticVec, CopiesHoldTheSameElementsAndAreIndependent) {
  StaticVec<V, 12> a{V{1}, V{2.5}, V{3}};
  StaticVec<V, 12> b(a);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b, a);
  EXPECT_EQ(std::get<double>(b[1]), 2.5);
  b[0] = V{7};
  EXPECT_EQ(std::get<int>(a[0]), 1);
  EXPECT_NE(a, b);
  // Assigning a shorter list leaves exactly its elements.
  StaticVec<V, 12> c{V{9}};
  b = c;
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b, c);
  // Self-assignment through an alias (a plain `b = b` trips -Wself-assign).
  const auto& alias = b;
  b = alias;
  EXPECT_EQ(b, c);
}

TEST(StaticVec, EqualityComparesOnlyTheElementsInUse) {
  StaticVec<int, 4> a{1, 2, 3};
  StaticVec<int, 4> b{1, 2};
  EXPECT_NE(a, b);
  b.push_back(3);
  EXPECT_EQ(a, b);
  a.clear();
  a.push_back(5);
  b.clear();
  b.push_back(5);
  EXPECT_EQ(a, b);  // whatever stays in the unused slots does not count
  EXPECT_EQ(a.span().size(), 1u);
}

}  // namespace
}  // namespace fulcrum
