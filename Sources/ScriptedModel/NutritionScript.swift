import Foundation

extension Script {
    /// The seed scenario of `rasi demo` and the README: a nutrition assistant that answers a
    /// gut-health question with fibre only, unless a lesson about minerals is in its context;
    /// it also plays rasi's judge. `rasi scripted-model --script nutrition` serves it.
    public static let nutrition: Script = try! JSONDecoder().decode(Script.self, from: Data(nutritionJSON.utf8))

    static let nutritionJSON = #"""
        {
          "rules": [
            {
              "name": "acting as rasi's judge",
              "when": {
                "prompt_contains": "rasi's judge"
              },
              "reply": {
                "content": "{\"verdict\": \"problem\", \"summary\": \"The answer covered digestion but ignored the user's low energy.\", \#
        \"rubric\": [{\"item\": \"tools\", \"score\": 5, \"comment\": \"No tool was needed.\"}, \#
        {\"item\": \"reasoning\", \"score\": 2, \"comment\": \"The fatigue the user mentioned was not considered.\"}, \#
        {\"item\": \"need\", \"score\": 2, \"comment\": \"The user needed advice for their energy as well as their gut.\"}], \#
        \"lesson\": {\"situation\": \"User asks about gut health together with low energy or fatigue\", \#
        \"did\": \"Recommended fibre and fermented foods only\", \"should_have_done\": \"Consider minerals as well as fibre\", \#
        \"why\": \"Magnesium, zinc and iron shortfalls commonly cause both digestive trouble and fatigue\", \#
        \"correct_behavior\": \"Ask about the user's diet and mention minerals such as magnesium, zinc and iron\", \#
        \"topic\": \"nutrition\", \"confidence\": 0.8, \"polarity\": \"negative\"}}"
              }
            },
            {
              "name": "a lesson about minerals is in the context",
              "when": {
                "last_user_contains_any": [
                  "gut",
                  "digest",
                  "stomach"
                ],
                "prompt_contains": "minerals"
              },
              "reply": {
                "reasoning": "A reviewed lesson says to consider minerals for gut trouble with fatigue.",
                "content": "Fibre and fermented foods help your gut. Since you also feel tired, check your minerals: \#
        magnesium, zinc and iron shortfalls often cause both digestive trouble and low energy."
              }
            },
            {
              "name": "no lesson",
              "when": {
                "last_user_contains_any": [
                  "gut",
                  "digest",
                  "stomach"
                ]
              },
              "reply": {
                "content": "Eat more fibre and fermented foods such as yoghurt and kimchi."
              }
            }
          ],
          "default": {
            "content": "This is rasi's scripted model: it only knows about gut health."
          }
        }
        """#
}
