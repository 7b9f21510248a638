// Metadata extraction: dates, amounts, defined terms, parties, citations.
//
// Sentences marked "CUAD" are quoted from contracts of CUAD v1, The Atticus
// Project (CC BY 4.0), https://www.atticusprojectai.org/cuad — quoted
// verbatim except where a comment says otherwise.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "test_budget.h"
#include "text/metadata.h"
#include "text/utf8.h"

namespace foldback {
namespace {

using text::ExtractMetadata;
using Values = std::vector<std::string>;

Metadata Extract(const std::string& s, DocKind kind = DocKind::kDocument) {
  Metadata md;
  ExtractMetadata(s, kind, &md);
  return md;
}

Values Field(const Metadata& md, const char* name) {
  auto it = md.find(name);
  return it == md.end() ? Values{} : it->second;
}

bool Has(const Metadata& md, const char* name, const std::string& value) {
  Values v = Field(md, name);
  return std::find(v.begin(), v.end(), value) != v.end();
}

// --- CUAD preambles --------------------------------------------------------

// CUAD: ARMSTRONGFLOORING,INC_01_07_2019-EX-10.2-INTELLECTUAL PROPERTY AGREEMENT
const char* kArmstrong =
    "Exhibit 10.2\n\nExecution Version\n\nINTELLECTUAL PROPERTY AGREEMENT\n\n"
    "This INTELLECTUAL PROPERTY AGREEMENT (this \"Agreement\"), dated as of December 31, 2018 "
    "(the \"Effective Date\") is entered into by and between Armstrong Flooring, Inc., a "
    "Delaware corporation (\"Seller\") and AFI Licensing LLC, a Delaware limited liability "
    "company (\"Licensing\" and together with Seller, \"Arizona\") and AHF Holding, Inc. "
    "(formerly known as Tarzan HoldCo, Inc.), a Delaware corporation (\"Buyer\") and Armstrong "
    "Hardwood Flooring Company, a Tennessee corporation (the \"Company\" and together with "
    "Buyer the \"Buyer Entities\") (each of Arizona on the one hand and the Buyer Entities on "
    "the other hand, a \"Party\" and collectively, the \"Parties\").\n\n"
    "WHEREAS, Seller and Buyer have entered into that certain Stock Purchase Agreement, dated "
    "November 14, 2018 (the \"Stock Purchase Agreement\");";

TEST(Metadata, CuadArmstrongPreamble) {
  Metadata md = Extract(kArmstrong);
  EXPECT_EQ(Field(md, text::kFieldParty),
            (Values{"Armstrong Flooring, Inc.", "AFI Licensing LLC", "AHF Holding, Inc.",
                    "Armstrong Hardwood Flooring Company"}));
  EXPECT_EQ(Field(md, text::kFieldDate), (Values{"2018-12-31", "2018-11-14"}));
  for (const char* t : {"Agreement", "Effective Date", "Seller", "Licensing", "Arizona", "Buyer",
                        "Company", "Buyer Entities", "Stock Purchase Agreement"}) {
    EXPECT_TRUE(Has(md, text::kFieldDefinedTerm, t)) << t;
  }
  // Aliases are defined terms, not parties.
  EXPECT_FALSE(Has(md, text::kFieldParty, "Seller"));
}

TEST(Metadata, CuadSponsorshipPreamble) {
  // CUAD: ArcGroupInc_20171211_8-K_EX-10.1_10976103_EX-10.1_Sponsorship Agreement
  Metadata md = Extract(
      "Exhibit 10.1   JACKSONVILLE JAGUARS SPONSORSHIP AGREEMENT   This Sponsorship Agreement "
      "(this \"Agreement\") is entered into as of November 27, 2017 (the \"Execution Date\") by "
      "and between Jacksonville Jaguars, LLC, a Delaware limited liability company (\"Club\"), "
      "and The ARC Group, Inc., a Florida corporation (owner and operator of Dick's Wings and "
      "Grill) (\"Sponsor\"). This Agreement consists of this Sponsorship Agreement and Exhibits "
      "A and B hereto");
  EXPECT_EQ(Field(md, text::kFieldParty),
            (Values{"Jacksonville Jaguars, LLC", "The ARC Group, Inc."}));
  EXPECT_EQ(Field(md, text::kFieldDate), (Values{"2017-11-27"}));
  EXPECT_TRUE(Has(md, text::kFieldDefinedTerm, "Execution Date"));
  EXPECT_TRUE(Has(md, text::kFieldDefinedTerm, "Sponsor"));
  // "(owner and operator of Dick's Wings and Grill)" defines nothing.
  EXPECT_FALSE(Has(md, text::kFieldDefinedTerm, "s Wings and Grill"));
}

TEST(Metadata, CuadAliasBeforeDescriptorAndAddress) {
  // CUAD: AMERICASSHOPPINGMALLINC_12_10_1999-EX-10.2-SITE DEVELOPMENT AND HOSTING AGREEMENT
  // (runs of spaces collapsed).
  Metadata md = Extract(
      "EXHIBIT 10.2\n\n SITE DEVELOPMENT AND HOSTING AGREEMENT\n\n This SITE DEVELOPMENT AND "
      "HOSTING AGREEMENT (the \"Agreement\") dated as of August 9, 1999 is made between Hanover "
      "Direct, Inc. (\"HDI\"), a New Jersey Corporation, located at 1500 Harbor Boulevard, "
      "Weehawken, NJ 07087, and The Deerskin Companies, Inc. (the \"Company\"), a Nevada "
      "corporation, located at 2500 Arrowhead Drive, Carson City, NV 89706. Each of the parties "
      "hereto shall be referred to as a \"Party\".");
  EXPECT_EQ(Field(md, text::kFieldParty),
            (Values{"Hanover Direct, Inc.", "The Deerskin Companies, Inc."}));
  EXPECT_EQ(Field(md, text::kFieldDate), (Values{"1999-08-09"}));
  EXPECT_TRUE(Has(md, text::kFieldDefinedTerm, "HDI"));
  EXPECT_TRUE(Has(md, text::kFieldDefinedTerm, "Party"));
}

TEST(Metadata, CuadAllCapsTitleAndBodyPreferMixedCase) {
  // CUAD: NOVOINTEGRATEDSCIENCES,INC_12_23_2019-EX-10.1-JOINT VENTURE AGREEMENT
  Metadata md = Extract(
      "Exhibit 10.1 JOINT VENTURE AGREEMENT BETWEEN NOVO INTEGRATED SCIENCES INC. (\"NVOS\") AND "
      "HARVEST GOLD FARMS INC. (\"HGF\") FOR THE DEVELOPMENT, MANAGEMENT AND OPERATION OF HEMP "
      "FARMING AND MEDICINAL CROPS\nJOINT VENTURE AGREEMENT Dated as of December 19, 2019 This "
      "Joint Venture Agreement (the \"Agreement\") is entered into between Novo Integrated "
      "Sciences Inc., a Nevada Corporation with offices located at 11120 NE 2nd Street, Suite "
      "200, Bellevue, Washington 98004, U.S.A (herein referred to as \"NVOS\") and Harvest Gold "
      "Farms Inc., a corporation organized under the laws of New Brunswick, Canada");
  // The list ends at "FOR THE DEVELOPMENT ..."; the body's spelling wins.
  EXPECT_EQ(Field(md, text::kFieldParty),
            (Values{"Novo Integrated Sciences Inc.", "Harvest Gold Farms Inc."}));
  EXPECT_TRUE(Has(md, text::kFieldDefinedTerm, "NVOS"));  // "(herein referred to as ...)"
  EXPECT_EQ(Field(md, text::kFieldDate), (Values{"2019-12-19"}));
}

TEST(Metadata, CuadPartiesWithoutBetween) {
  // CUAD: ADUROBIOTECH,INC_06_02_2020-EX-10.7-CONSULTING AGREEMENT(1)
  Metadata md = Extract(
      "Exhibit 10.7\nCONSULTING AGREEMENT\nAduro Biotech, Inc., with a place of business at 740 "
      "Heinz Avenue, Berkeley, CA 94710 (\"Aduro\") and IREYA B.V having an address at "
      "Staalwijkstraat 16, 2313 XR Leiden, the Netherlands, represented by Andrea van Elsas, "
      "(\"Consultant\") agree to all terms and conditions of this Consulting Agreement "
      "(\"Agreement\") dated June 1, 2020, effective as of July 1, 2020 (\"Effective Date\").\n"
      "2. Compensation and Expenses. Aduro shall pay Consultant for the Services at the rate of "
      "\xE2\x82\xAC"
      "500 per hour.");
  EXPECT_EQ(Field(md, text::kFieldParty), (Values{"Aduro Biotech, Inc.", "IREYA B.V"}));
  EXPECT_EQ(Field(md, text::kFieldDate), (Values{"2020-06-01", "2020-07-01"}));
  EXPECT_EQ(Field(md, text::kFieldAmount), (Values{"EUR 500.00"}));
}

TEST(Metadata, CuadAmountsInWordsAndFigures) {
  // CUAD: DovaPharmaceuticalsInc_20181108_10-Q_EX-10.2_11414857_EX-10.2_Promotion Agreement;
  // HYPERIONSOFTWARECORP_09_28_1994-EX-10.47-EXCLUSIVE DISTRIBUTOR AGREEMENT (excerpts).
  Metadata md = Extract(
      "to Valeant a milestone payment in the amount of Two Million Five Hundred Thousand Dollars "
      "($2,500,000) when aggregate Net Sales ... insurance for a minimum limit equal to at least "
      "the greater of One Hundred Thousand Dollars ($100,000) or the amounts required");
  EXPECT_EQ(Field(md, text::kFieldAmount), (Values{"USD 2500000.00", "USD 100000.00"}));
}

TEST(Metadata, CuadStatuteCitations) {
  // CUAD: ADUROBIOTECH,INC_06_02_2020-EX-10.7-CONSULTING AGREEMENT(1) (excerpt).
  Metadata md = Extract(
      "In addition, as set forth in 18 U.S.C. \xC2\xA7"
      "1833(b), Consultant shall not be held criminally or civilly liable");
  EXPECT_EQ(Field(md, text::kFieldCitation), (Values{"18 U.S.C. \xC2\xA7 1833(b)"}));
}

// --- Dates -------------------------------------------------------------------

TEST(Metadata, DateFormats) {
  struct Case {
    const char* text;
    const char* iso;
  } cases[] = {
      {"effective December 31, 2018.", "2018-12-31"},
      {"on 31 December 2018 at noon", "2018-12-31"},
      {"dated 12/31/2018 (US order)", "2018-12-31"},
      {"as of 2018-12-31", "2018-12-31"},
      {"made this the 8th day of May, 2014", "2014-05-08"},
      {"signed May 8th, 2014", "2014-05-08"},
      {"signed Sept. 3rd 2019", "2019-09-03"},
      {"24 OCT 2011", "2011-10-24"},
      {"this (1st) day of January, 1996", "1996-01-01"},
      {"this first day of June 2020", "2020-06-01"},
      {"the twenty-first day of March, 2001", "2001-03-21"},
      {"this 20t h day of December 2018", "2018-12-20"},  // PDF-to-text spacing
      {"Dated 05/05/98", "1998-05-05"},
      {"Contract start: 04-01-06", "2006-04-01"},
      {"on February 29, 2020", "2020-02-29"},
      {"on\nJanuary\n15,\n2021", "2021-01-15"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Field(Extract(c.text), text::kFieldDate), (Values{c.iso})) << c.text;
  }
}

TEST(Metadata, DateRejectsImpossibleAndNonDates) {
  const char* texts[] = {
      "February 29, 2019",  // not a leap year
      "February 30, 2020",
      "April 31, 2020",
      "13/12/2018",  // no month 13 in US order
      "2018-13-01",
      "0/12/2018",
      "In 2018 the parties met; in 2019 they did not.",  // years alone
      "Call (212) 555-1234 or 555-123-4567.",            // phone numbers
      "See Section 12.3 and Article 4.1.2.",             // clause numbers
      "May 2014",                                        // no day
      "the Company may 30 days after notice",            // "may" the verb
      "version 1/2/3 of the form",
      "ISBN 978-3-16-148410-0",
      "December 31, 1492",  // outside 1700-2199
  };
  for (const char* t : texts) {
    EXPECT_TRUE(Field(Extract(t), text::kFieldDate).empty()) << t;
  }
}

// --- Amounts -----------------------------------------------------------------

TEST(Metadata, AmountFormats) {
  struct Case {
    const char* text;
    const char* value;
  } cases[] = {
      {"a fee of $1,000,000 payable", "USD 1000000.00"},
      {"US$ 5 million", "USD 5000000.00"},
      {"USD 2.5 million", "USD 2500000.00"},
      {"\xE2\x82\xAC"
       "300 per hour",
       "EUR 300.00"},
      {"EUR 300,000", "EUR 300000.00"},
      {"\xC2\xA3 1.2 billion", "GBP 1200000000.00"},
      {"$0.125 per share", "USD 0.125"},
      {"$25.50", "USD 25.50"},
      {"$5M cap", "USD 5000000.00"},
      {"500,000 Dollars", "USD 500000.00"},
      {"5 million euros", "EUR 5000000.00"},
      {"C$ 750", "CAD 750.00"},
      {"HK$1,200", "HKD 1200.00"},
      {"U.S.$250", "USD 250.00"},
      {"CHF 10,000", "CHF 10000.00"},
      {"$5,000 USD", "USD 5000.00"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Field(Extract(c.text), text::kFieldAmount), (Values{c.value})) << c.text;
  }
}

TEST(Metadata, AmountNegatives) {
  const char* texts[] = {
      "the $ sign alone",  "pay $ now", "$[***] per unit", "See Section 12.3",
      "Call 555-123-4567", "In 2018",   "5% of Net Sales", "500 pounds of flour",
      "USD alone",         "$ABC",
  };
  for (const char* t : texts) {
    EXPECT_TRUE(Field(Extract(t), text::kFieldAmount).empty()) << t;
  }
}

// --- Defined terms -----------------------------------------------------------

TEST(Metadata, DefinedTermForms) {
  Metadata md = Extract(
      "\"Confidential Information\" means any information disclosed. "
      "\xE2\x80\x9C"
      "Affiliate"
      "\xE2\x80\x9D"
      " shall mean any entity. \"Territory\" has the meaning set forth in Exhibit A. "
      "This Agreement (the \"Agreement\") is made by Acme Corp. (\"Seller\") and Beta LLC "
      "(hereinafter referred to as \"Buyer\"), each a \"Party\" and collectively the "
      "\"Parties.\" Seller (\xE2\x80\x98the Manufacturer\xE2\x80\x99) agrees.");
  for (const char* t : {"Confidential Information", "Affiliate", "Territory", "Agreement", "Seller",
                        "Buyer", "Parties", "the Manufacturer"}) {
    EXPECT_TRUE(Has(md, text::kFieldDefinedTerm, t)) << t;
  }
}

TEST(Metadata, DefinedTermNegatives) {
  Metadata md = Extract(
      "He said \"we will pay on time\" and left. The Supplier's and the Buyer's obligations "
      "(as set out in Section 2) continue. The so-called \"best efforts\" standard applies. "
      "\"This quotation is far too long to be a defined term because it goes on and on\" means "
      "nothing.");
  EXPECT_TRUE(Field(md, text::kFieldDefinedTerm).empty())
      << ::testing::PrintToString(Field(md, text::kFieldDefinedTerm));
}

// --- Citations ---------------------------------------------------------------

TEST(Metadata, CitationFormats) {
  Metadata md = Extract(
      "See Bell Atl. Corp. v. Twombly, 550 U.S. 544, 570 (2007); Smith v. Jones, 123 F.3d 456 "
      "(9th Cir. 1997); Doe v. Roe, 12 Cal. App. 4th 345; Foo v. Bar, 2019 WL 1234567 (D. Del. "
      "2019); 15 U.S.C. \xC2\xA7 78j; 15 U.S.C. \xC2\xA7\xC2\xA7 78j(b); Cal. Civ. Code "
      "\xC2\xA7 1542; 17 C.F.R. 240.10b-5; 500  F. Supp.  2d   100; 9 U.S.C. \xC2\xA7 1 et seq.; "
      "California Civil Code Section 1542; N.Y. Gen. Oblig. Law \xC2\xA7 5-1401; 6 Del. C. "
      "\xC2\xA7 2708.");
  EXPECT_EQ(
      Field(md, text::kFieldCitation),
      (Values{"550 U.S. 544", "123 F.3d 456", "12 Cal. App. 4th 345", "2019 WL 1234567",
              "15 U.S.C. \xC2\xA7 78j", "15 U.S.C. \xC2\xA7\xC2\xA7 78j(b)",
              "Cal. Civ. Code \xC2\xA7 1542", "17 C.F.R. \xC2\xA7 240.10b-5", "500 F. Supp. 2d 100",
              "9 U.S.C. \xC2\xA7 1 et seq.", "California Civil Code \xC2\xA7 1542",
              "N.Y. Gen. Oblig. Law \xC2\xA7 5-1401", "6 Del. C. \xC2\xA7 2708"}));
}

TEST(Metadata, CitationNegatives) {
  const char* texts[] = {
      "See Section 12.3 of this Agreement.",
      "In 2019 U.S. sales grew 5 percent.",
      "pursuant to Section 4.1",
      "12 F",
      "3 U.S.C.",
      "Call 555-123-4567",
      "\xC2\xA7 12 of the Agreement",
  };
  for (const char* t : texts) {
    EXPECT_TRUE(Field(Extract(t), text::kFieldCitation).empty()) << t;
  }
}

// --- Fields, limits and bad input -------------------------------------------

TEST(Metadata, HostValuesKeptAndDeduplicated) {
  Metadata md;
  md[text::kFieldDate] = {"2018-12-31", "host-value"};
  ExtractMetadata("On December 31, 2018 and on 31 December 2018 and on January 2, 2019.",
                  DocKind::kDocument, &md);
  EXPECT_EQ(md[text::kFieldDate], (Values{"2018-12-31", "host-value", "2019-01-02"}));
}

TEST(Metadata, NoEmptyFieldsWhenNothingFound) {
  Metadata md = Extract("Nothing to see here.");
  EXPECT_TRUE(md.empty());
}

TEST(Metadata, AtMostMaxValuesPerField) {
  std::string t;
  for (int y = 1901; y < 2199; ++y) t += "January 1, " + std::to_string(y) + ". ";
  Metadata md = Extract(t);
  EXPECT_EQ(Field(md, text::kFieldDate).size(), text::kMaxValuesPerField);
  // Host values are never dropped, even past the limit.
  Metadata full;
  for (size_t k = 0; k < text::kMaxValuesPerField + 5; ++k) {
    full[text::kFieldAmount].push_back("v" + std::to_string(k));
  }
  ExtractMetadata("$5", DocKind::kDocument, &full);
  EXPECT_EQ(full[text::kFieldAmount].size(), text::kMaxValuesPerField + 5);
}

TEST(Metadata, EmailsHaveNoParties) {
  std::string mail =
      "Hi, the meeting between Acme Corp. (\"Acme\") and Beta LLC is on May 8, 2014.";
  EXPECT_TRUE(Field(Extract(mail, DocKind::kEmail), text::kFieldParty).empty());
  EXPECT_EQ(Field(Extract(mail, DocKind::kEmail), text::kFieldDate), (Values{"2014-05-08"}));
  EXPECT_EQ(Field(Extract(mail), text::kFieldParty), (Values{"Acme Corp.", "Beta LLC"}));
}

TEST(Metadata, PartiesOnlyInThePreamble) {
  std::string t(4000, ' ');
  t += "This Agreement is made between Acme Corp. (\"Acme\") and Beta LLC (\"Beta\").";
  EXPECT_TRUE(Field(Extract(t), text::kFieldParty).empty());
}

TEST(Metadata, InvalidUtf8NeverCrashesAndValuesAreValid) {
  std::string t =
      "\"Conf\xFF\xFEidential \xC3\x28Info\" means data. Between Acme \xE2\x82 Corp. (\"A\xC0\") "
      "and Beta\xF0\x9F LLC (\"B\") on May 8, 2014 for \xE2\x82\xAC\xE2\x82"
      "5 and $\xFF"
      "5 and \xC2\xA7\xC2 12 and 123 F.3d \xFF"
      "456";
  t.push_back('\0');
  t += "December 31, 2018";
  Metadata md = Extract(t);
  for (const auto& [name, values] : md) {
    for (const auto& v : values) EXPECT_TRUE(text::IsValidUtf8(v)) << name << ": " << v;
  }
  EXPECT_TRUE(Has(md, text::kFieldDate, "2014-05-08"));
  EXPECT_TRUE(Has(md, text::kFieldDate, "2018-12-31"));
  // Every truncation of a tricky string is handled.
  for (size_t n = 0; n <= t.size(); ++n) Extract(t.substr(0, n));
}

TEST(Metadata, HugeInput) {
  // Bounded work is measured in tests/bench/index_bench.cc; here only that
  // it finishes and caps its output. 50 MB (6 MB under the sanitizers).
  const size_t size = foldback::testing::SanitizerScaled(50u << 20, 8);
  std::string chunk =
      "On December 31, 2018 Acme paid $1,000,000 under 15 U.S.C. \xC2\xA7 78j. \"Term\" means "
      "x. (\"Alias\") 12.3 555-123-4567 \xE2\x80\x9C";
  std::string big;
  big.reserve(size);
  int n = 0;
  while (big.size() < size) {
    big += chunk;
    big += std::to_string(n++);
    big += ' ';
  }
  Metadata md = Extract(big);
  EXPECT_LE(Field(md, text::kFieldDate).size(), text::kMaxValuesPerField);
  EXPECT_EQ(Field(md, text::kFieldAmount), (Values{"USD 1000000.00"}));
  // Pathological input: one long run of quotes and parentheses.
  std::string quotes(size, '"');
  for (size_t k = 0; k < quotes.size(); k += 3) quotes[k] = '(';
  Extract(quotes);
}

// --- Through the index -------------------------------------------------------

TEST(Metadata, ExtractedFieldsAreFilterable) {
  auto index = Index::Create();
  ASSERT_TRUE(index.ok());
  Document d;
  d.id = "ip-agreement";
  d.text = kArmstrong;
  ASSERT_TRUE((*index)->Add(d).ok());
  Document other;
  other.id = "other";
  other.text = "This Agreement is dated January 5, 2021 and concerns the Stock Purchase.";
  ASSERT_TRUE((*index)->Add(other).ok());

  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.filters = {*Filter::Parse("party=AHF Holding, Inc.")};
  auto hits = (*index)->Search("Stock Purchase Agreement", o);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  for (const auto& h : *hits) EXPECT_EQ(h.doc_id, "ip-agreement");

  o.filters = {*Filter::Parse("date>=2021-01-01")};
  hits = (*index)->Search("Stock Purchase", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  for (const auto& h : *hits) EXPECT_EQ(h.doc_id, "other");
}

}  // namespace
}  // namespace foldback
