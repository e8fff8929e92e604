"""佐野市デジタル人材育成 e-ラーニング: curriculum, roster, grading, completion records and HR export."""
