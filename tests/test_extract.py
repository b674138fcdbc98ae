"""Span extraction on literal passages, no model: the question's kind, the slot a 什么/哪个/谁
question asks for, quantities and ranges. Passages are written for the test (or general
knowledge), not taken from the shipped corpus."""
from __future__ import annotations

import pytest

from qa.extract import classify
from qa.extract.number import quantities as _numbers
from qa.slots import slot
from qa.textnorm import normalize


@pytest.mark.parametrize("question,kind", [
    ("平均办理时间是多少天", "number"),  # "时间是" no longer makes it a date question
    ("实施方案包括多少项措施", "number"),  # "包括" no longer makes it a list question
    ("该园区一共有几家企业入驻？", "number"),
    ("该公园位于什么地方？", "where"),
    ("首届博览会在哪个城市举办？", "where"),
    ("该规定由哪个部门负责解释？", "entity"),
    ("这种植物的学名是什么？", "entity"),
    ("为什么要推行信用监管？", "reason"),  # 为什么 holds 什么, but asks for a reason
    ("如何提升抽检合格率？", "method"),
    ("该市采取了哪些措施稳定物价？", "method"),  # measures, not an enumeration of names
    ("新规对小微企业有什么意义？", "sentence"),
    ("个体工商户是否需要年报？", "yes_no"),
    ("该机构的负责人是谁？", "who"),
    ("他当年位居何职？", "entity"),  # 何职, 何种: a slot, not a sentence
    ("这种颜料采用何种工艺制成？", "entity"),
    ("条例什么时候施行？", "when"),
    ("这座塔建于哪个世纪？", "when"),
    ("政务大厅几点开始办公？", "when"),  # a time of day
    ("专项行动包括哪些内容？", "list"),
    ("该市的卫星城有哪几座？", "list"),  # which ones, not how many
    ("该市有几座卫星城？", "number"),
    ("贵州在准入制度改革方面做了哪些工作？", "method"),  # the work done is the measures
    ("突出标准带动的具体做法是什么？", "method"),  # the measures asked the other way round
    ("他辞官后做了什么工作？", "entity"),  # what one person did: a slot
    ("强化线上监管的主要任务有哪些？", "method"),
    ("对小微企业有哪些支持措施？", "method"),  # a word or two between 哪些 and 措施
    ("该省出台了哪些惠企政策？", "method"),
    ("从哪些方面推出措施？", "list"),  # which fields, not the measures
])
def test_a_question_is_classified_by_what_it_asks(question, kind):
    assert classify(question) == kind


@pytest.mark.parametrize("question,sentence,span", [
    ("该赛事中生命数耗完即算为什么？", "该赛事中生命数耗完即算为出局，比赛随即结束。", "出局"),
    ("这座公园位于什么地方？", "这座公园位于城市西郊的滨江新区，占地约二百亩。", "城市西郊的滨江新区"),
    ("这座公园是由谁捐资兴建的？", "这座公园是由当地商会捐资兴建的。", "当地商会"),
    ("该条例的正式名称是什么？", "该条例的正式名称为“营商环境促进条例”，于次年施行。", "“营商环境促进条例”"),
    ("该套餐主要以什么为原料？", "该套餐主要以本地大米、时令蔬菜为原料，价格实惠。", "本地大米、时令蔬菜"),
    ("小组组长由哪个部门的负责人担任？", "小组组长由市场监管部门的负责人担任，成员由各区派员组成。", "市场监管部门"),
    # another name is given by another naming verb than the question's
    ("这种小吃又叫什么？", "这种小吃，又名米粉卷，是当地的早点。", "米粉卷"),
    ("该协会原名叫什么？", "该协会，成立于上世纪，原名青年工商联谊会，后改为现名。", "青年工商联谊会"),
    ("这座桥的别称是什么？", "这座桥又称红桥，别称彩虹桥，横跨两岸。", "彩虹桥"),  # its own verb first
    ("这位诗人的字是什么？", "这位诗人，字子明，晚年隐居山中。", "子明"),
    ("这种草又称之为什么？", "这种草，又名龙须草、灯心草，多生于溪边。", "龙须草、灯心草"),
    ("这名特工的编号是？", "这名特工的编号是007，代号铁金刚。", "007"),  # 编号 is no naming verb
    # a question that ends in 在哪里 asks where, whatever the sentence's verb of place
    ("该中心的总部在哪里？", "该中心的总部位于滨江新区，成立时有职工二十人。", "滨江新区"),
    # a word that opens with a tie's character keeps it: 成都, 和田, 在线 are no 成/和/在 before a name
    ("该公司总部设在哪里？", "该公司总部设在成都市高新区。", "成都市高新区"),
    ("博物馆收藏了什么文物？", "博物馆收藏了和田玉器等文物。", "和田玉器等文物"),
    ("该店主要经营什么？", "该店主要经营在线教育课程。", "在线教育课程"),
    ("他的绰号是什么？", "他的绰号是成哥。", "成哥"),
    # the noun phrase after a determiner is the answer's head, all of it
    ("该剧是哪家影视公司的作品？", "该剧是北辰影视公司的一部作品。", "北辰影视公司"),
    # the sentence's order, the question's preposition and verb of place; the span's edges tidied
    ("这个作品是谁的漫画？", "李某的漫画这个作品深受读者喜爱。", "李某"),  # the sentence puts the answer first
    ("这座公园是由谁捐资兴建的？", "1975年由当地商会捐资兴建。", "当地商会"),  # from the question's preposition
    ("这件化石在哪里发现的？", "这件化石发现于城郊的采石场，保存完好。", "城郊的采石场"),  # 在哪里V ↔ V于…
    ("该银行的初名是什么？", "该银行创立于1957年，初名为建设银行（，1981年前沿用），后更名。", "建设银行"),
    ("这个类群是什么动物的分支？", "这个类群是兽脚亚目坚尾龙类的一个分支。", "兽脚亚目坚尾龙类"),
    ("该车手是哪个国家的赛车手？", "该车手是一位葡萄牙F1赛车手。", "葡萄牙"),
    # a question ending on the answer's kind: the name before that kind, or after it and a copula
    ("该市新建的体育馆叫什么？", "该市拥有新建的滨江国际体育馆，可容纳万人。", "滨江国际体育馆"),
    ("这位作家的第一部小说叫什么？", "1990年出版了第一部小说《河岸》，引起文坛关注。", "《河岸》"),
    ("这次比赛中最年长的选手叫什么？", "而最年长的选手是王某，已年过六旬。", "王某"),
    ("该寺新建的大殿称为什么？", "该寺新建的大殿则称“千佛殿”，以示区别。", "“千佛殿”"),
    # "X是什么" said the other way round, "某某是X": the clause before the copula
    ("该镇的主街道是什么？", "滨河路是该镇的主街道。", "滨河路"),
    ("这项运动的目标是什么？", "比赛在水上进行，以把球送入对方球门为这项运动的目标。", "把球送入对方球门"),
    ("该地区的最高峰是什么？", "境内多丘陵，其中青石山是该地区的最高峰。", "青石山"),  # "其中" opens, not names
    # the name after its kind, up to what the question says next
    ("这位演员因出演什么电视剧而走红？", "这位演员因出演电视剧《春风》而走红，此后片约不断。", "《春风》"),
    ("主角是哪部游戏的人物？", "主角是游戏星河传说一代的人物。", "星河传说一代"),
    # a 而 the sentence leaves out, or that ends the span, is not the answer's
    ("这座溶洞以什么而著称？", "这座溶洞全长两千余米，以竖井众多著称。", "竖井众多"),
    ("这家饭店以什么而闻名？", "这家饭店以蛇羹而闻名。", "蛇羹"),
    # a place noun made of a verb and 地 (出生地, 原产地) ↔ that verb and 于
    ("这位作家的出生地在哪里？", "这位作家，出生于江苏苏州，祖籍浙江。", "江苏苏州"),
    ("这种植物的原产地在哪里？", "这种植物为豆科植物，原产于南美洲，现广泛栽培。", "南美洲"),
    # a name's original spelling in brackets after it is not part of the answer
    ("这家俱乐部位于什么地方？", "这家俱乐部位于海滨小镇莫克姆（Morecambe）。", "海滨小镇莫克姆"),
    ("她获得了什么提名？", "她获得一项最佳女歌手（Best Female Singer）提名。", "最佳女歌手"),
    # what the question itself says at the span's edges is not the answer's
    ("这家小店2010年在哪里开设？", "这家小店是一所在2010年于深圳开设的小店。", "深圳"),
    ("这位歌手因参加什么综艺节目而走红？", "这位歌手参加综艺节目《快乐大本营》而走红，此后片约不断。", "《快乐大本营》"),
    ("他配合谁开展禁烟运动？", "他在任内积极配合总督林某和邓某的禁烟运动。", "总督林某和邓某"),
    ("按与发展商的协议，项目将由什么形式出售？", "按协议，项目将由发展商以私人单位形式出售。", "私人单位形式"),
    ("该局成立了什么知识产权机构？", "该局率先成立知识产权仲裁院，受理纠纷。", "知识产权仲裁院"),  # a name's own words stay
    # 做 stands for the deed that answers it
    ("园里的博物馆是用来做什么的？", "园里有一座小型的博物馆，展示本地的老式农具。", "展示本地的老式农具"),
    ("这种药在研究中常被用来做什么？", "这种药在研究中常被用来抑制细胞的蛋白质合成。", "抑制细胞的蛋白质合成"),
    # an office held: after the sentence's verb of office, not one the question names
    ("2001年5月至2003年2月，他担任什么职务？", "2001年5月至2003年2月任某县县长。", "某县县长"),
    ("前任被撤职后，她担任过什么职位？", "前任被撤职后，她曾短暂署理两江总督一职。", "两江总督"),
    ("在某某担任市长时期，他担任什么职务？", "在某某担任市长时期，他任市政府政风处处长。", "市政府政风处处长"),
    # between the question's words, the clause that meets its next words; a comma in brackets splits nothing
    ("李某是谁的部将？", "李某，字子明，东郡人，名将张某的部将。", "名将张某"),
    ("王某是哪个国家的歌手？", "王某（英文名：Mary，1980年生）是一位新加坡歌手。", "新加坡"),
    # the thing of the asked kind ends where its kind is named ("某某大学物理系" → 某某大学)
    ("张某是哪个大学的学生？", "张某是滨海大学物理系的学生。", "滨海大学"),
    # who does the verb an asked 者/方 noun is made of
    ("这座车站的经营方是谁？", "这座车站位于市区北部，由城北铁道公司所经营。", "城北铁道公司"),
    ("这项赛事的主办方是？", "这项赛事每年举行，由全国羽毛球协会主办。", "全国羽毛球协会"),
    ("这个奖项的赞助方是谁？", "这个奖项每年颁发，赞助方为某汽车公司。", "某汽车公司"),
    # a colour or a shape: the words of that kind, with what makes them one and what is said beside them
    ("这种鱼的身体是什么颜色的？", "本鱼体呈银灰色，栖息于沿岸礁区。", "银灰色"),
    ("这种鱼的身体是什么颜色的？", "体呈淡蓝红色，背部较深。", "淡蓝红色"),
    ("这种花的花冠是什么形状？", "花冠呈漏斗形，裂片卵形。", "漏斗形"),
    ("这种植物的果实是什么颜色？", "果实成熟时呈红色至紫黑色，可食。", "红色至紫黑色"),
    ("这座广场是什么形状的？", "这座广场是城中的一个圆形广场。", "圆形"),
    # whose: up to the last 的 before the asked relation, the noun after a verb
    ("张甲是谁的部将？", "张甲，金城人，东汉末群雄韩乙的信任部将。", "东汉末群雄韩乙"),
    ("王丙是谁的女儿？", "后来朝廷走访王蕴的女儿王丙，容貌端庄。", "王蕴"),
    # a doer before its verb, without the adverbials between them
    ("是谁从敌军手中夺回了这座城？", "1167年，某国国王斐迪南二世第一次从敌军手中夺回了这座城。", "某国国王斐迪南二世"),
    ("这个人物是由谁创作的？", "这个人物是一个由英国作家伊恩·法兰明所创作的虚构人物。", "英国作家伊恩·法兰明"),  # 所 is the verb's
    # a question ending on the answer's kind (时期), said after the sentence's 至
    ("这种制度可追溯到什么时期？", "其制度可以追溯至西周时期。", "西周时期"),
    # another name: the naming verb near the subject's first mention, past a 学名 that names nothing
    ("这种树的别称是什么？", "这种树（学名：），别称金钱树、摇钱树，为豆科植物。", "金钱树、摇钱树"),
    ("这种草又被称之为什么？", "这种草为禾本科植物，也称为牛筋草、蟋蟀草。", "牛筋草、蟋蟀草"),
    ("若有n个面，该立体被称为什么？", "若有n个面，该立体便称为n面体。", "n面体"),
    ("这种花的别名是什么？", "这种花 (学名:),别称夜来香、月见草等,是柳叶菜科这种花属的植物。", "夜来香、月见草等"),
    # a season, an ordinal of the asked kind, an occupation, a country before the asked kind
    ("这种蒿在什么季节开花？", "头状花序卵形，排列成圆锥花序，秋季开花。", "秋季"),
    ("该地区在光盘分区中属于第几区？", "该地区在光盘分区属第三区（另一地区属第六区）。", "第三区"),
    ("李某的职业是什么？", "李某（），中国足球运动员，司职中场。", "足球运动员"),
    ("王某的职业是什么？", "王某（英文名：），新加坡人，台湾歌手。", "歌手"),
    ("张某是哪个国家的演员？", "张某（1974年2月22日－），日本喜剧演员及主持。", "日本"),
    # a verb the sentence ties with another 于/自; what the question says after the answer's 的
    ("这个词源于哪里？", "英语的这个词源自法语，是动词的过去分词。", "法语"),
    ("这个地名是哪一种语言的音译？", "这个地名是蒙古语音译，意为富饶。", "蒙古语"),
    ("这种唱腔吸收了哪派的风格？", "这种唱腔吸收了马派稳健大方的风格。", "马派"),
    ("这条街在哪里？", "这条街是江苏省扬州市的一条东西向街道。", "江苏省扬州市"),  # the place, not what lies there
    ("这种野驴栖息在哪儿？", "这种野驴是栖息在南亚的亚洲野驴亚种。", "南亚"),
    ("这座渔港在哪里？", "这座渔港是位于宜兰县头城镇的观光渔港，建于清代。", "宜兰县头城镇"),  # a place jieba cuts in two
    ("这种藤本分布在什么地区？", "它是分布于热带美洲的一种多年生藤本，叶心形。", "热带美洲"),  # ends on a place
    # the asked kind said before the name, after 是; a word of praise for what the question names next
    ("这位剑客是什么游戏的男主角？", "这位剑客是游戏星海传说二代的男主角。", "星海传说二代"),
    ("广场中央是哪个国王的骑马雕像？", "广场中央是国王腓力二世的宏伟的骑马雕像，建于十八世纪。", "腓力二世"),
    ("那年，此人位居何职？", "那年，官升为枢密使。", "枢密使"),  # 何职 asks an office
    ("张三的本名是什么？", "张三本名张建国、李四本名李卫东，二人皆为本地人。", "张建国"),  # not the next one's name too
    # the doer whose clause says what else the question says
    ("目前，该品牌的台湾代理人是谁？", "台湾方面，此前由甲公司代理，目前由乙公司代理。", "乙公司"),
    # 谁: the question's adverb the sentence need not say; the adverbs and conjunctions opening a doer
    ("主帅在那场战役失败后，谁一直跟随左右？", "主帅在那场战役失败后，逃到山中，部众四散，唯独李某跟随。", "李某"),
    ("谁拥有该职位的选举权？", "理事会由九位成员组成，但只有世袭统治者拥有该职位的选举权。", "世袭统治者"),
    # the question's next word is the answer's kind, said after the answer and opened by 是
    ("这两首歌受到了哪种音乐风格的影响？", "这两首歌是欧洲流行音乐风格的舞曲。", "欧洲流行音乐风格"),
    # what opens no answer: 分别为, 便是, a 着 after the question's verb
    ("条约双方的代表是谁？", "条约签订于某日，双方代表分别为张某与李某。", "张某与李某"),
    ("这种输入法的要点是什么？", "这种输入法的要点便是「能打多少打多少」。", "「能打多少打多少」"),
    ("他靠什么机会登上了一线队？", "他靠着名单扩编的机会登上一线队。", "名单扩编"),
    # the question's words said twice: the time that its next words follow
    ("他1997年主演电视剧什么出道？", "1997年主演电视剧《春风》出道，2011年监制并主演电视剧《秋雨》。", "《春风》"),
    ("滨钢是什么的简称？", "滨钢集团有限公司（简称滨钢），是一家钢铁企业。", "滨钢集团有限公司"),  # a gloss, not a restatement
    ("这座公园位于什么地方？", "这座公园位于泰国的首都曼谷的巴吞旺县。", "泰国的首都曼谷的巴吞旺县"),  # one place
    ("滨海博物馆在哪？", "滨海博物馆是中国省级综合性博物馆，位于山东省青岛市红军街50号。", "山东省青岛市红军街50号"),
    ("这首歌的原唱是谁？", "同名主题曲《某歌》，由某某原唱，并由另一人作曲。", "某某"),  # "由X原唱"
    ("他从哪里毕业？", "他早年就读某书院，及后于滨海大学毕业。", "滨海大学"),  # 及后 opens the clause
    ("首届比赛在哪里举行？", "首届比赛于2008年12月11日至22日在南京举行。", "南京"),  # 于 ties the date, 在 the place
    ("该省成立了什么国际认证联盟？", "该省成立了区域品牌认证联盟，其成员遍布日本。", "区域品牌"),  # 什么国际… asks no country
    # 在于 says what something lies in, not where; a mark after it opens the rest of the sentence
    ("两种鱼的区别在哪里？", "两种鱼的区别在于，前者背鳍较长，后者尾鳍分叉；两者体色相近。", "前者背鳍较长，后者尾鳍分叉"),
    ("他和谁一起参与了那次战役？", "他任节度使，与某某、另一人参与那次战役，后升任刺史。", "某某、另一人"),  # 一起 unsaid
    ("该银行的英文名是什么？", "该银行（Saigon Trade Bank，STB），成立于1991年。", "Saigon Trade Bank"),  # the gloss
    ("该银行的英文简称是什么？", "该银行（英文全称：Bank for Trade，英文简称：BFT）是一家银行。", "BFT"),
    ("这位大夫史称什么？", "这位大夫，史称某献子，是当时的卿。", "某献子"),  # 史称 names him
    ("他毕业于哪所大学？", "他早年丧父，滨海师范学院中文系毕业，后任教员。", "滨海师范学院中文系"),  # no 于 in the sentence
    ("这座楼宇座落于什么地方？", "这座楼宇是座落滨海区深盛路8号的一个住宅项目。", "滨海区深盛路8号"),  # an address
    ("高氏是哪位皇帝的皇后？", "高氏，北魏宣武帝元恪的第二任皇后，来自高句丽。", "北魏宣武帝元恪"),  # an ordinal for what follows
    ("他临终前派谁给队长送信？", "他临终前派遣某甲给队长送信。", "某甲"),  # past the rest of the word 派 begins
    ("研究人员认为这种树的主要授粉者是谁？", "研究人员认为狐蝠是它们主要授粉者。", "狐蝠"),  # 是…V者
    ("新球场取代的是哪一个足球场？", "新球场于2010年落成，取代了自1921年已开始使用的基士堤公园球场。", "基士堤公园球场"),
    ("她打破了什么世界纪录？", "她打破了另一名选手于2000年保持的50米自由式纪录。", "50米自由式纪录"),  # not who held it
    ("他擅长什么战术？", "他善于稳定的底线相持与灵活多变的网前战术。", "稳定的底线相持与灵活多变的网前战术"),  # two, kept
    ("该公司的主要业务是什么？", "该公司的主要业务是一间以旅游和餐饮为主的连锁事业。", "以旅游和餐饮为主的连锁事业"),
    ("这位皇后祖籍何处？", "这位皇后，河南郡洛阳县（今洛阳市东）人，北齐孝昭帝的皇后。", "河南郡洛阳县（今洛阳市东）"),
    ("该国的皇室标志是什么？", "该国的皇室标志叫做“迦楼罗”，是一种神鸟。", "“迦楼罗”"),  # 叫做 opens no answer
    ("该中心属于什么设施？", "该中心是一所高度设防院所，属惩教署设施。", "惩教署"),  # the question's 属于 said as 属
    ("哪家公司负责这个节目？", "这个节目为1980年代中台湾电视公司负责的动画节目。", "台湾电视公司"),  # a time opens it
    ("该公司总部在哪里？", "该公司总部与母公司宏都建设同样位于嘉义市。", "嘉义市"),  # what is placed is not the place
    ("这条街是位于哪个国家？", "这条街位于新加坡欧南区，是著名的唐人街。", "新加坡"),  # the country, then its parts
    ("这位作家的出生地在哪？", "这位作家（1944年生于加利福尼亚州的旧金山）是美国人。", "加利福尼亚州的旧金山"),  # 生于
    ("这座广场的前称是什么？", "这座广场（前称西北中心（Norwest Center）），位于市中心。", "西北中心"),  # a closer never opened
    ("这位队员死前派谁给队长送信？", "这位队员死前派遣金龟子去给队长送信，金龟子也因此留在岛上。", "金龟子"),  # not 去
    ("内河航路也叫什么？", "内河航路，或称内河航线，是连结两地的海运航线。", "内河航线"),  # 或称 names it too
    # the 主角 said after the asked work, not the last one the sentence names
    ("《甲剧》的主角是谁？", "《甲剧》（1954年，电视电影，主角李四）、《乙剧》（1950年，电视电影，主角张三）", "李四"),
    # an office its holder is said to be, with no verb of office
    ("在某某担任市长时期，张三担任什么职务？", "在某某担任市长时期，张三是市政府政风处处长。", "市政府政风处处长"),
    # a person's name past what the sentence says of them first
    ("基金会现任董事会主席是谁？", "基金会现任董事会主席是曾任商学院院长的王建国。", "王建国"),
    ("这部剧是谁主演的？", "本剧由潘志文、张玛莉等主演。", "潘志文、张玛莉等"),
    # a place's name that opens like a demonstrative still names it
    ("这次会议在哪里召开？", "这次会议在那曲召开。", "那曲"),
])
def test_the_slot_a_question_asks_for_is_lined_up_with_the_sentence(question, sentence, span):
    found = slot(normalize(question), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == span


@pytest.mark.parametrize("question,sentence", [
    ("这座公园位于什么地方？", "今年共举办各类展会三十余场。"),  # nothing of the question is restated
    ("该条例的正式名称是什么？", "该条例的正式名称。此后多次修订，内容不断完善，逐步形成了较为完整的体系框架。"),
    ("该市新建的体育馆叫什么？", "该市新建的体育馆，可容纳万人。"),  # the kind alone is not its name
    ("骑车者树立了什么先例？", "一些骑车者已树立了先例，借由彩绘派对在公园内骑车。"),  # all of it the question's
    ("这座车站的经营方是谁？", "某公司经营多条线路。"),  # a "某某经营" where the sentence does not name it
    ("他收藏了什么名画？", "他是著名收藏家，藏有宋人山水画多幅。"),  # one character torn out of a word (收藏家)
    ("这首歌的原唱是谁？", "这首歌由某乐队改编，某某作曲。"),  # no "由X原唱": a bare verb noun is not asked
    # a span that points at what it means instead of naming it
    ("这位将军被谁所杀？", "这位将军率部北上，被其下所杀。"),
    ("这种树有什么用途？", "对当地人而言，此树的用途广泛。"),
    ("这座城市的名字是什么？", "这座城市的名字是其他。"),
])
def test_no_slot_where_the_sentence_does_not_restate_the_question(question, sentence):
    found = slot(normalize(question), normalize(sentence))
    assert found is None


@pytest.mark.parametrize("text,quantities", [
    ("海拔100米至2,800米的地区", ["100米至2,800米"]),  # a range is one answer
    ("果实长约15至20厘米。", ["15至20厘米"]),
    ("每季度抽检2-4个批次", ["2-4个"]),
    ("共发放防护服1.4万件、医用手套11万双", ["1.4万件", "11万双"]),  # a list of quantities
    ("注册资本为30亿越南盾，主频4.7 GHz", ["30亿越南盾", "4.7 GHz"]),  # currencies and units in Latin letters
    ("检查经营主体1.2万家次，出动执法人员3.5万人次", ["1.2万家次", "3.5万人次"]),  # counts of times, whole
    ("于2020-10-05发布", []),  # a date is not a quantity
    ("2019年完成", []),  # nor is a bare year
    ("有效期为二十年", []),  # nor a span of years, unless the question asks how long (number.py durations)
])
def test_quantities_keep_their_unit_and_ranges_stay_whole(text, quantities):
    assert [m.group(0) for m in _numbers(text, set())] == quantities


def _hit(text: str, rank: int = 1):
    """A retrieved passage of its own document, at `rank`."""
    from qa.types import Chunk, Hit

    chunk = Chunk(f"c{rank}", f"d{rank}", 0, "text", "", text, text, 0, len(text), 0, len(text), "")
    return Hit(chunk=chunk, score=1.0, rank=rank)


def test_a_how_question_is_answered_with_the_enumerated_measures_after_the_lead_in():
    from qa.answer import candidates

    text = ("为提升服务质量，该局采取了以下措施：一是压缩办理时限；二是推行网上申报；三是设立帮办专窗。"
            "全年共受理申请三千余件。")
    cands = candidates("该局采取了哪些措施提升服务质量", "sentence", [_hit(text)], {})
    best = max(cands, key=lambda c: c.score)
    assert best.answer == "为提升服务质量，该局采取了以下措施：一是压缩办理时限；二是推行网上申报；三是设立帮办专窗。"


@pytest.mark.parametrize("question,sentence,span", [
    ("该市在全国率先成立了什么调解机构？", "该市在全国率先成立调解仲裁中心，当年受理案件百余件。", "调解仲裁中心"),
    ("该县哪个农产品产量居全省第一？", "该县出产的高山茶叶产量居全省第一，远销海外。", "出产的高山茶叶"),
])
def test_the_slot_is_found_when_the_sentence_names_the_thing_and_not_its_kind(question, sentence, span):
    found = slot(normalize(question), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == span


def test_a_title_says_its_subject_for_every_sentence_under_it():
    from qa.extract import candidates

    question = "南岭紫纹树蛙的背部有什么特点？"
    text = "南岭紫纹树蛙是树蛙科的一种两栖动物，分布于东南亚的山地雨林。背部有不规则的紫褐色纵纹，腹面乳白。"
    best = lambda titles: max(candidates(question, classify(question), [_hit(text)], titles),  # noqa: E731
                              key=lambda c: c.score).sentence
    assert best({}).startswith("南岭紫纹树蛙是")  # without a title, the sentence repeating the name wins
    assert best({"d1": "南岭紫纹树蛙"}).startswith("背部有")  # under it, the one saying what is asked


def test_a_naming_question_finds_no_other_name_far_from_its_subject():
    sentence = "这种小吃在当地十分常见，每逢节日家家户户都会制作，外地游客又称之为米糕。"
    found = slot(normalize("这种小吃又叫什么？"), normalize(sentence))
    assert found is None or "米糕" not in sentence[found.start:found.end]


@pytest.mark.parametrize("words,text,share", [
    ({"照常营业": 1.0}, "督促全市药店开门营业", 0.5),  # a compound said in part by its sibling (partly=True)
    ({"药房": 1.0}, "督促全市药店开门营业", 0.0),  # two characters: all or nothing
    ({"五年": 1.0}, "5年来新增企业两万户", 1.0),  # a counted word in figures
    ({"三十四项": 1.0}, "共推出34项措施", 1.0),
    ({"统一": 1.0}, "推进1个平台建设", 0.0),  # not a count
])
def test_coverage_counts_compounds_said_in_part_and_counts_in_figures(words, text, share):
    from qa.extract.base import coverage

    assert coverage(normalize(text), "", words, partly=True) == pytest.approx(share)


def test_telling_two_clauses_apart_a_compound_counts_only_whole():
    from qa.extract.base import coverage

    words = {"发明专利": 1.0}
    assert coverage(normalize("全市申请专利一万件"), "", words) == 0.0
    assert coverage(normalize("其中发明专利申请四千件"), "", words) == 1.0


def test_a_collective_name_is_answered_with_what_stands_before_it():
    sentence = "会议要求，推进绿色低碳、数字赋能“两大转型”，守住安全底线。"
    found = slot(normalize("该市要推进的“两大转型”是什么？"), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == "推进绿色低碳、数字赋能"


def test_the_number_that_fills_the_slot_wins_over_another_in_the_sentence():
    from qa.answer import candidates

    text = "该区将原有200余家小作坊整合规范为48家，质量水平明显提升。"
    cands = candidates("该区把小作坊整合规范为多少家", "number", [_hit(text)], {})
    assert max(cands, key=lambda c: c.score).answer == "48家"


def test_the_count_said_after_the_counted_noun_wins_over_the_total():
    from qa.answer import candidates

    text = "参加比赛的代表队共计40人，其中运动员23人，官员与工作人员17人。"
    cands = candidates("参加比赛的代表队有多少运动员", "number", [_hit(text)], {})
    assert max(cands, key=lambda c: c.score).answer == "23人"


def test_a_count_in_words_is_answered_with_what_it_counts():
    sentence = "该省商事制度改革实现“二十六证合一”，企业开办时间大幅压缩。"
    found = slot(normalize("该省商事制度改革实现了几证合一？"), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == "二十六证合一"


# ---------------------------------------------------------------- one table per extractor kind
# Each row: question, passage, the span the extractor of the question's kind must give first.
# Passages are written for the test; none comes from the shipped corpus.

def _best(question: str, text: str) -> str:
    from qa.extract import candidates

    cands = candidates(question, classify(question), [_hit(text)], {})
    return max(cands, key=lambda c: c.score).answer


@pytest.mark.parametrize("question,text,answer", [
    # definition: the sentence that says what X is, from X on
    ("什么是信用修复？", "近年来各地探索新做法。信用修复是指失信主体纠正失信行为后申请移出名单的制度。",
     "信用修复是指失信主体纠正失信行为后申请移出名单的制度"),
    ("网格化监管是什么？", "所谓网格化监管（又称格子化管理），是把辖区划成若干网格分片负责的方式。本市已全面推行。",
     "网格化监管（又称格子化管理），是把辖区划成若干网格分片负责的方式"),
    # where: a place name fills the slot before any other phrase
    ("首届博览会在哪个城市举办？", "首届博览会在青岛举办，吸引了众多客商。", "青岛"),
    # number: figures in words, the unit the question names, the unit a 多高 question implies
    ("全市有多少家药店坚持营业？", "疫情期间，全市有一千二百零六家药店坚持营业。", "一千二百零六家"),
    ("这种树的叶片约长多少公分？", "这种树的叶片约长12公分，宽约5公分。", "12公分"),
    ("这座塔有多高？", "塔身共13层，高约96米，是当地地标。", "约96米"),
    # when: a period is one answer; centuries and dates in words are dates
    ("这部动画是何时播出的？", "这部动画于2001年4月2日至2002年3月25日在电视台播出。", "2001年4月2日至2002年3月25日"),
    ("这座石桥建于什么年代？", "这座石桥建于18世纪末，至今保存完好。", "18世纪末"),
    ("双方代表什么时候互换批准书？", "双方代表于一九六一年九月十日互换批准书。", "一九六一年九月十日"),
    # who: a title is not the name; "哪国的" asks for the country, not the noun after it
    ("他师从哪位画家？", "他早年师从画家陈某某，擅长山水。", "陈某某"),
    ("这位作曲家是哪国的音乐家？", "这位作曲家是奥地利音乐家，一生创作了大量作品。", "奥地利"),
    # reason: the clause that gives it
    ("为什么要推行告知承诺制？", "推行告知承诺制，是为了减少证明材料、方便企业办事。各地已陆续实施。",
     "是为了减少证明材料、方便企业办事"),
    # method: the enumerated block after its lead-in
    ("该局如何提升抽检效率？", "该局从三方面提升抽检效率：一是统筹抽检计划；二是推行快检设备；三是公开抽检结果。全年抽检两千批次。",
     "该局从三方面提升抽检效率：一是统筹抽检计划；二是推行快检设备；三是公开抽检结果。"),
    # method: a paragraph's run-in heading with what the paragraph then says, not the paragraph after it
    ("该局如何帮助小微企业纾困？", "——帮助小微企业纾困。该局出台十条帮扶措施，减免检测费用三百万元。同时选派干部驻企服务。"
     "\n\n——守住安全底线。全年开展专项检查十余次。",
     "——帮助小微企业纾困。该局出台十条帮扶措施，减免检测费用三百万元。同时选派干部驻企服务。"),
    # method: a paragraph's unmarked lead restates the aim; asked how, what follows it answers too —
    # "一是…", "3." or no mark at all; the next sentence cut at its last clause that fits when it is a page
    ("该局如何推进信用监管？", "该局全年工作成效明显。\n\n推进信用监管，创新监管手段。统一使用抽查平台，实现跨部门联合抽查。"
     "严格执行经营异常名录制度。\n\n守牢安全底线。开展隐患大排查。",
     "推进信用监管，创新监管手段。统一使用抽查平台，实现跨部门联合抽查。严格执行经营异常名录制度。"),
    ("该省如何深化准入制度改革？", "会议部署了七项任务。\n一是着力深化准入制度改革。全面推行证照分离改革，加大照后减证力度。\n"
     "二是着力营造放心消费环境。严查不正当竞争。",
     "一是着力深化准入制度改革。全面推行证照分离改革，加大照后减证力度。"),
    ("如何降低企业退出成本？", "总体要求如前所述。\n3.降低企业退出成本。深化企业注销便利化改革，完善退出制度。\n4.加强监管。",
     "3.降低企业退出成本。深化企业注销便利化改革，完善退出制度。"),
    ("该局如何打造质量品牌？", "该局工作扎实。\n打造质量品牌。" + "成立质量发展委员会，" * 30 + "加大考核力度。",
     "打造质量品牌。" + "成立质量发展委员会，" * 20 + "成立质量发展委员会"),
    # … but not a sentence in mid-paragraph, nor a short opening sentence that states a figure: those are facts
    ("该局如何保障节日市场供应？", "节日期间物价平稳。该局保障市场供应。组织企业增加投放，开展巡查。",
     "该局保障市场供应。"),
    ("该局如何开展抽检？", "\n全年抽检2000批次。该局按月公布抽检计划，推行快检设备。\n其他工作。",
     "该局按月公布抽检计划，推行快检设备。"),
    # yes/no: the sentence that states or denies it, as evidence
    ("个体工商户是否需要报送年度报告？", "个体工商户每年都要更新信息。个体工商户应当于每年6月30日前报送年度报告。",
     "个体工商户应当于每年6月30日前报送年度报告。"),
    # number: a count in one numeral ("两个", never the article 一个), an ordinal for 第几, a Latin unit
    ("该校目前有几个校区？", "该校是一所综合性大学，目前有两个校区。", "两个"),
    ("他有几个孩子？", "他曾因此入狱九个月，出狱后育有3名子女。", "3名"),  # 九个月 is a spell, not a count of 个
    # list: a question that counts its items, answered by what the sentence's colon introduces
    ("该亚科包含哪两个族？", "学者提出该亚科包含两个族：甲龙族、乙龙族。", "甲龙族、乙龙族"),
    ("该剧获得了第几名？", "该剧在评选中获得第3名，观众反响热烈。", "第3名"),
    ("雷达的探测距离是多少？", "该型雷达的探测距离为30km，精度较高。", "30km"),
    # number: a ceiling or floor is part of the figure ("不超过50万元" is no "超过50万元"), a range given
    # by its two bounds is one answer, a rate keeps what it is per, a spell of months is what 多少个月 asks
    ("对新认定的企业给予多少奖励？", "对新认定的企业，给予最高不超过50万元的一次性奖励。", "最高不超过50万元"),
    ("补贴期限最长多久？", "补贴标准为每人每月500元，补贴期限最长不超过6个月。", "最长不超过6个月"),
    ("专项资金有多少？", "市财政每年安排不低于2000万元的专项资金。", "不低于2000万元"),
    ("罚款金额是多少？", "对违法企业，依法处以5万元以上20万元以下罚款。", "5万元以上20万元以下"),
    ("补贴标准是多少？", "补贴标准为每人每月500元，补贴期限最长不超过6个月。", "每人每月500元"),
    ("房租减免多少个月？", "对承租国有房屋的小微企业，免除3个月房租。", "3个月"),
    # number: the clause saying the question's negated word (不合格 is not 合格); 同比/环比/增幅 ask for a rate
    ("不合格样品有多少批次？", "本次共抽检食品样品500批次，合格490批次，不合格10批次。", "10批次"),
    ("全市新增市场主体同比增长多少？", "2023年，全市新增市场主体3.2万户，同比增长12.5%。", "12.5%"),
    # number: 电话/热线/号码 asks for a telephone number, which is no quantity
    ("联系电话是多少？", "咨询电话：0731-12345678，联系人：王某。", "0731-12345678"),
    ("投诉举报电话是多少？", "消费者可拨打12315投诉举报热线反映问题。", "12315"),
    ("咨询电话是多少？", "如有疑问，请拨打咨询电话（0731）88886666转2。", "（0731）88886666转2"),
    # reason: a sentence opening with its purpose ("为…，…决定…") gives the purpose clause, not the rest
    ("为什么要开展这次专项行动？", "为切实维护消费者合法权益，市场监管局决定开展专项行动。", "为切实维护消费者合法权益"),
    ("他为什么离开家乡？", "为了完成学业，他离开家乡，到省城求学。", "为了完成学业"),
    # method: items after the lead-in's comma ("X，一是…；二是…；三是…") are one block
    ("该市如何加强食品安全监管？", "该市加强食品安全监管，一是建立追溯体系；二是开展校园专项检查；三是推行明厨亮灶。全年未发生事故。",
     "该市加强食品安全监管，一是建立追溯体系；二是开展校园专项检查；三是推行明厨亮灶。"),
    # list: items one to a sentence after a lead-in are one block ("以下材料：（一）…；（二）…")
    ("申请人需要提交哪些材料？", "申请人应当提交以下材料：（一）申请书；（二）营业执照复印件；（三）法定代表人身份证明。逾期不予受理。",
     "申请人应当提交以下材料：（一）申请书；（二）营业执照复印件；（三）法定代表人身份证明。"),
    # which department does it: the doer after 由, before the asked verb, though the kind the question
    # names stands after another name ("由某局牵头，某某等部门配合")
    ("哪个部门牵头负责？", "专项行动由市市场监管局牵头，公安、商务等部门配合。", "市市场监管局"),
    ("专项行动由哪个部门牵头？", "专项行动由市市场监管局牵头，公安、商务等部门配合。", "市市场监管局"),
    ("哪个部门负责牵头？", "专项行动由市市场监管局负责牵头，公安、商务等部门配合。", "市市场监管局"),
    # … and asked of the doer's role ("牵头单位是哪个")
    ("该项工作的牵头单位是哪个？", "该项工作由市发展改革委牵头，市市场监管局、市财政局配合。", "市发展改革委"),
    ("展会的主办单位是哪家？", "本次展会由市商务局主办，市市场监管局协办。", "市商务局"),
    # … and, with no 由, the doer its clause opens with, after when it was done
    ("该通知由哪个部门印发？", "近日，市市场监管局印发《关于进一步优化营商环境的通知》，提出20条具体举措。", "市市场监管局"),
    ("该办法由哪个部门制定？", "2021年3月，省市场监管局制定了《食品安全抽检办法》。", "省市场监管局"),
    # … and when a 由 names the doer of another verb, the asked verb's own clause opener
    # ("…是？" leaves out its 什么)
    ("博览会的主办方是？", "本届展会由国际展览联盟认证，省商务厅主办，每两年举行一次。", "省商务厅"),
    ("年会的承办单位是哪家？", "本次会议由市人民政府主办，市商务局承办。", "市商务局"),
    ("锦标赛的主办方是谁？", "本赛事由世界联会认可，省体育总会主办，一般在每年的11月举行。", "省体育总会"),
    # "有什么X" ↔ "具备/具有/拥有…X": the sentence says its having with another verb, right after the
    # question's words; a bare "具有" elsewhere lines nothing up
    ("该平台有什么功能？", "该平台具备在线申报、进度查询、结果公示等功能，企业可随时登录使用。", "在线申报、进度查询、结果公示等功能"),
    ("误食有什么症状？", "茎具有毒性，误食会引致嘴唇红肿、腹泻和呕吐。", "茎具有毒性，误食会引致嘴唇红肿、腹泻和呕吐。"),
    # number: a spell asked as 有效期多长 is no length; the figure said to be the former one is not the
    # one asked; a bound 以内 is part of the figure
    ("该办法的有效期多长？", "本办法自2023年1月1日起施行，有效期3年。", "3年"),
    ("企业开办需要多长时间？", "企业开办时间由原来的5个工作日压缩至1个工作日以内。", "1个工作日以内"),
    ("原来企业开办需要多长时间？", "企业开办时间由原来的5个工作日压缩至1个工作日以内。", "5个工作日"),
    # reason: a purpose of several aims, up to what was done
    ("为什么要开展专项行动？", "为切实维护消费者合法权益，净化市场环境，市场监管总局决定在全国范围内开展专项行动。",
     "为切实维护消费者合法权益，净化市场环境"),
    # method: a sentence a semicolon ends runs on to its full stop ("…罚款；情节严重的，吊销营业执照。")
    ("违反规定的如何处罚？", "违反本规定的，由市场监管部门责令改正，处1万元以上10万元以下罚款；情节严重的，吊销营业执照。另有规定的除外。",
     "违反本规定的，由市场监管部门责令改正，处1万元以上10万元以下罚款；情节严重的，吊销营业执照。"),
    # a pointer whose colon comes after a comma ("下列情形之一的企业，不得申报："), and items a semicolon ends,
    # run on to the full stop
    ("哪些企业不得申报？", "存在下列情形之一的企业，不得申报：近三年发生重大质量安全事故的；被列入严重违法失信名单的。另行通知。",
     "存在下列情形之一的企业，不得申报：近三年发生重大质量安全事故的；被列入严重违法失信名单的。"),
    # 以下 after a figure bounds it and points nowhere: the sentence after it is no part of the answer
    ("对违法企业如何处罚？", "对违法企业处5万元以上20万元以下罚款。全年共查处案件300件。", "对违法企业处5万元以上20万元以下罚款。"),
    # number: 内 after a spell of time is a bound, part of the figure
    ("办理营业执照需要几个工作日？", "材料齐全的，登记机关应当在3个工作日内予以登记。", "3个工作日内"),
    ("该区有几家内资企业？", "该区共有5家内资企业。", "5家"),  # 内 after no spell of time is no bound
    # list: a heading line's items, each with the sentences it carries, to where the section ends
    ("工作要求有哪些？", "四、工作要求\n（一）加强组织领导。各地要高度重视。\n（二）强化宣传引导。充分利用各类媒体。\n五、附则",
     "四、工作要求\n（一）加强组织领导。各地要高度重视。\n（二）强化宣传引导。充分利用各类媒体。"),
    # entity: 什么情况下 asks for the case a rule applies in, the 的-clause before it
    ("什么情况下可以申请延期？", "因不可抗力无法按时提交的，可以申请延期，延期最长不超过30日。", "因不可抗力无法按时提交的"),
    ("在什么情况下会被吊销营业执照？", "违反本规定的，处1万元以上罚款；情节严重的，吊销营业执照。", "情节严重的"),
    # definition: a sentence pointing to its conditions answers with them
    ("申请条件是什么？", "申请企业应当同时符合以下条件：（一）在本市依法登记注册；（二）纳税信用等级为B级以上；（三）近三年无严重失信行为。",
     "申请企业应当同时符合以下条件：（一）在本市依法登记注册；（二）纳税信用等级为B级以上；（三）近三年无严重失信行为。"),
    # number: a size in the asked dimension's unit, though its clause names only the dimension
    ("这种松树有多高？", "这种松树是当地特有树种，树高可达55米。", "55米"),
    # number: the figure said of the asked dimension, not of another ("长702米，深80米")
    ("这座峡谷有多长？", "这座峡谷是一座长702米，深80米的峡谷。", "702米"),
    ("这座峡谷有多深？", "这座峡谷是一座长702米，深80米的峡谷。", "80米"),
    # when: 哪一年 asks for the year of a fuller date; a decade stays whole
    ("首张专辑是哪一年发行的？", "她的首张专辑于2006年2月14日发行，销量不俗。", "2006年"),
    ("该系统于哪年开始运作？", "1995年初整套系统进入警戒状态，开始运作。", "1995年"),  # not 1995年初
    ("这一风潮是从哪一年开始的？", "这一风潮从1990年代开始，至今不衰。", "1990年代"),
    # method: why a thing bears its name, given before its 得名 (or what 由此 points back to)
    ("这种树的名字是怎样得来的？", "这种树原产南亚。因这种树的柱头形状貌如盾形，故而得名。", "因这种树的柱头形状貌如盾形"),
    ("这幢别墅是怎么得名的？", "1948年，主人在院内巨石上题刻“美庐”二字，这幢别墅由此得名。", "主人在院内巨石上题刻“美庐”二字"),
    # method: the means a question asks for in its own frame, not the whole sentence
    ("电视剧常常以什么方式呈现三角关系？", "三角关系很常见，特别是在电视剧常常以浪漫喜剧的方式一起呈现。", "浪漫喜剧"),
    # when: a century in words; a period named, not dated, where the text gives no date
    ("这里何时成为殖民地？", "这里自十九世纪以来即为殖民地。", "十九世纪以来"),
    ("这部书是什么时候写成的？", "这部书诞生于越南殖民时期。这部书于二十世纪初期写成。", "二十世纪初期"),  # a date first
    ("这种恐龙生活在什么时候？", "这种恐龙生活于上白垩纪早期的亚洲。", "上白垩纪早期"),
    ("这部经书的成书时间是什么时候？", "这部经书的成书时间可能晚至孔雀王朝时期。", "孔雀王朝时期"),
    # list: a word that introduces the items as examples is not one; "A、B与C" is three items
    ("这个数的因数有哪些？", "这个数的因数即1、2、3、6。", "1、2、3、6"),
    ("这种程式可以执行在哪些平台上？", "这种程式可以执行在许多平台上，如Linux、Windows与Mac OS。", "Linux、Windows与Mac OS"),
    # reason: what stands before the consequence ("…，因此…") is the reason
    ("为什么这种水果被称为开心果？", "这种水果成熟时果壳自然裂开，因此被称为开心果。", "这种水果成熟时果壳自然裂开"),
    # who: the name, not the title after it
    ("当天谁宣布解散议会？", "当天，马克·罗斯总统宣布解散议会，提前举行大选。", "马克·罗斯"),
    # who: the name, not what the sentence says next about the person
    ("这位总理的父亲是谁？", "去年，这位总理的父亲王建国宣布退休。", "王建国"),
    # a title in 《》 answers a question about a work
    ("她在哪部电影中首次担任女主角？", "在当年上映的电影《春天的故事》中，她首次担任女主角。", "《春天的故事》"),
    # list: the enumeration with as many items as the quoted name counts, after a lead-in naming it
    ("该市要健全的“四大机制”包括哪些？", "健全“四大机制”。重点健全预警机制、会商机制、督办机制、考核机制，形成合力。",
     "重点健全预警机制、会商机制、督办机制、考核机制"),
    # when: a reign year with its year of the common era is one date
    ("这座书院是什么时候重建的？", "这座书院毁于战火，光绪三年（1877年）重建。", "光绪三年（1877年）"),
    # when: a time of year, for what recurs; a span of months is one answer
    ("这种花的盛花期是什么时候？", "这种花于1890年传入本地。这种花的盛花期为夏季，花色金黄。", "夏季"),
    ("这种鱼的产卵期是什么时候？", "该鱼于1974年首次被记录。这种鱼的产卵期在2至4月，多在浅滩。", "2至4月"),
    # number: a population is counted in people, not in the share beside it
    ("该区的人口数是多少？", "该区居民中75%为城镇人口，2008年人口约33,700人。", "约33,700人"),
    # number: a span of years or months, where the question asks how long
    ("这份协议的有效期是多长时间？", "这份协议签订于两国建交后，有效期为二十年，期满可续签两次。", "二十年"),
    ("这类动物在地球上生存了多少年？", "这类动物分为两个族，在地球上生存了近2,400万年。", "近2,400万年"),
    # number and date: a figure given as approximate or as a bound is answered so
    ("核心保护区有多大？", "景区核心保护区约22平方公里，包括三座天生桥。", "约22平方公里"),
    ("食品抽检覆盖率达到多少？", "全市食品抽检覆盖率达到95%以上。", "95%以上"),
    ("这种风潮什么时候开始影响该区？", "1990年代以来，这种风潮开始影响该区。", "1990年代以来"),
    # who: the name after a calling, not the calling
    ("这座教堂是由谁设计的？", "这座教堂由意大利建筑师博罗米尼设计，1646年完工。", "博罗米尼"),
    # reason: "因X而Y" gives X
    ("这支军队的战力为什么受到重大打击？", "这支军队的战力因主将的战死而受到重大打击。", "因主将的战死"),
    # … and a reason without the consequence the question names
    ("为什么时人强烈反感这对叔侄？", "由于叔侄皆锋芒过露，排挤异己，引起时人的强烈反感。", "由于叔侄皆锋芒过露，排挤异己"),
    # date: two days of one year are one answer, two years are two dates
    ("男子百米决赛什么时候举行？", "男子百米决赛于2008年8月15日及8月16日举行。", "2008年8月15日及8月16日"),
    ("两次会议是什么时候召开的？", "两次会议于2001年和2005年召开。", "2001年"),
    # … and a time of day when one is asked, with the days it recurs on
    ("这档节目播出的时间段是什么时候？", "这档节目为1980年代中某电视台于每周日上午11:00～12:00播出的卡通时段，始于1984年。",
     "每周日上午11:00～12:00"),
    ("窗口几点开始办公？", "办事大厅工作时间为周一至周五上午9:00-12:00，下午2时30分至5时30分。", "周一至周五上午9:00-12:00"),
    # date: a part of a year or of a month is part of the date, and 哪一年 still takes the year
    ("全省新增市场主体最多是在什么时候？", "2021年一季度，全省新增市场主体最多。", "2021年一季度"),
    ("专项整治什么时候完成？", "专项整治于2019年12月底完成。", "2019年12月底"),
    ("专项整治是哪一年完成的？", "专项整治于2020年上半年完成。", "2020年"),
    # number: percentage points whole
    ("新兴产业占比提高了多少？", "当年新兴产业占比提高2.5个百分点。", "2.5个百分点"),
    # list: the enumeration whose own clause says what is asked
    ("该药材有哪些功能？", "该药材性寒味苦，主治感冒、疟疾、痢疾等症，功能发汗、退热、消肿。", "功能发汗、退热、消肿"),
    # number: what a density is per
    ("该街道的人口密度是多少？", "该街道面积2.3平方公里，人口密度为每平方公里69670人。", "每平方公里69670人"),
    # number: a rate's change in percentage points, beside the rate itself
    ("抽检覆盖率同比提升多少？", "全省食品抽检覆盖率超过95%，同比提升8个百分点。", "8个百分点"),
    ("新设企业同比增长多少？", "新设企业3.2万户，同比增长12.5%。", "12.5%"),
    # a pointer ("以下几个方面：", "出台以下措施。") is no answer by itself: it answers with what it points to,
    # to the last item and the sentences that item carries
    ("实施方案的主要内容是什么？", "实施方案的主要内容包括以下几个方面：一是加强组织领导；二是完善工作机制；三是强化督查考核。另外，本方案自发布之日起施行。",
     "实施方案的主要内容包括以下几个方面：一是加强组织领导；二是完善工作机制；三是强化督查考核。"),
    ("该制度的特点是什么？", "其特点主要有以下三点：第一，职官与长者并用。既设官吏。第二，刑禁与教化并重。第三，基层自治。此后各代沿用。",
     "其特点主要有以下三点：第一，职官与长者并用。既设官吏。第二，刑禁与教化并重。第三，基层自治。"),
    ("对小微企业有哪些支持措施？", ("为支持小微企业发展，本市出台以下措施。\n一、减免租金。对承租国有房屋的小微企业免收3个月租金。\n"
                              "二、加大信贷支持。鼓励银行增加信贷投放。\n本措施自发布之日起施行。"),
     "为支持小微企业发展，本市出台以下措施。\n一、减免租金。对承租国有房屋的小微企业免收3个月租金。\n二、加大信贷支持。鼓励银行增加信贷投放。"),
    ("该局的主要做法是什么？", "该局的主要做法如下：\n一是简化流程。\n二是压缩时限。\n下一步，该局将继续深化改革。",
     "该局的主要做法如下：\n一是简化流程。\n二是压缩时限。"),
    ("申请有哪些要求？", "具体要求如下：申请人应当如实填写，不得弄虚作假。逾期不予受理。", "具体要求如下：申请人应当如实填写，不得弄虚作假。逾期不予受理。"),
])
def test_each_kind_of_question_gets_its_own_span(question, text, answer):
    assert _best(question, text) == answer


@pytest.mark.parametrize("question,kind", [
    ("该地区将这种植物称为什么？", "entity"),  # 称为 + 什么: what it is called, not why
    ("合并后医院更名为什么？", "entity"),
    ("当地人将这种草称之为什么？", "entity"),
    ("这座湖被誉为什么？", "entity"),
    ("这部小说后来被改编为什么？", "entity"),
    ("这届赛事的主办方是？", "entity"),  # a question ending on its copula has left out its 什么
    ("为什么要开展专项整治？", "reason"),
    ("全校有几种颜色的校服？", "number"),  # a count in a unit now known (种)
])
def test_a_verb_before_wei_shenme_asks_what_not_why(question, kind):
    assert classify(question) == kind


def test_a_word_after_a_role_and_a_comma_is_not_taken_for_a_name():
    text = "2001年，他接替王光宇担任调查局局长，总计在位8年。"
    assert _best("2001年，他接替谁担任调查局局长？", text) != "总计"


def test_a_dictionary_word_after_a_role_is_not_taken_for_a_name():
    text = "在他担任市长时期，城区新建了三座桥。剧中，演员贝某饰演市长。"
    assert _best("谁饰演的市长？", text) == "贝某"  # not 时期


def test_a_name_by_the_asked_role_in_a_sentence_about_something_else_is_no_answer():
    from qa.extract import candidates

    texts = ("该基金会现任董事会主席为陈某某教授，任期三年。", "2007年年会上，大会主席王建国表示欢迎。")
    hits = [_hit(t, rank) for rank, t in enumerate(texts, 1)]
    question = "该基金会现任董事会主席是谁？"
    best = max(candidates(question, classify(question), hits, {}), key=lambda c: c.score)
    assert best.answer == "陈某某"


def test_a_who_question_naming_no_role_takes_the_name_inside_its_slot():
    text = "会议由党组成员、副局长李建华主持。"
    assert _best("会议由谁主持？", text) == "李建华"


@pytest.mark.parametrize("question,asks", [
    ("2020年全省查办各类案件多少件，罚没多少钱？", ["2020年全省查办各类案件多少件", "罚没多少钱"]),
    ("谁主持会议，会议在哪里召开？", ["谁主持会议", "会议在哪里召开"]),
    ("截至2020年底，市场主体有多少户？", ["截至2020年底，市场主体有多少户？"]),  # one ask after a time phrase
    ("该市有多少家药房照常营业", ["该市有多少家药房照常营业"]),
])
def test_a_question_with_two_asks_is_split_into_them(question, asks):
    from qa.asks import split_asks

    assert split_asks(question) == asks


def test_both_asks_are_answered_from_the_passage():
    from qa.answer import choose

    text = "2020年，全省共查办各类案件3.2万件，罚没金额5.6亿元，移送司法机关120件。"
    choice = choose("2020年全省查办各类案件多少件，罚没多少钱？", [_hit(text)], {})
    assert choice.candidate.answer == "3.2万件；5.6亿元"
    assert len(choice.candidate.spans) == 2


@pytest.mark.parametrize("text,figures", [
    ("实现二十六证合一", "实现26证合一"),
    ("全市一千二百零六家药房", "全市1206家药房"),
    ("新增十二万户", "新增12万户"),  # a magnitude word stays, as in "12万户"
    ("二〇二〇年", "2020年"),
    ("统一标准，一是加强监管", "统一标准，一是加强监管"),  # not numbers
    ("十一五规划", "十一五规划"),
])
def test_chinese_numerals_are_read_as_figures_for_matching(text, figures):
    from qa.numerals import arabic

    assert arabic(text) == figures


@pytest.mark.parametrize("row,question,answer", [
    # a plan's indicator row: the asked year's column, else the target (last) year
    ("专栏1 主要指标｜指标名称: 新增企业(万户)｜2020年: 12｜2025年: 20", "2020年新增企业多少", "12万户"),
    ("专栏1 主要指标｜指标名称: 新增企业(万户)｜2020年: 12｜2025年: 20", "新增企业目标是多少", "20万户"),
    # a spreadsheet record: the column the question names, not the row it names
    ("检查台账｜乡镇: 城关镇｜检查户数(户): 36｜整改户数: 4", "城关镇检查户数是多少", "36户"),
    ("检查台账｜乡镇: 城关镇｜检查户数(户): 36｜整改户数: 4", "城关镇整改户数是多少", "4"),
    # a merged header read as "2025年 目标"
    ("指标｜指标名称: 抽检批次｜2025年 目标: 5000", "2025年抽检批次是多少", "5000"),
])
def test_a_table_row_is_answered_from_the_asked_cell(row, question, answer):
    from qa.types import Chunk, Hit
    from qa.extract import candidates

    chunk = Chunk("c1", "d1", 0, "table_row", "", row, row, 0, len(row), 0, len(row), "")
    cands = candidates(question, "number", [Hit(chunk=chunk, score=1.0, rank=1)], {})
    assert max(cands, key=lambda c: c.score).answer == answer


def test_the_date_whose_clause_says_what_is_asked_wins_over_a_nearer_one():
    text = "王某，男，1975年3月出生，1998年7月参加工作，大学学历。"
    assert _best("王某什么时候参加工作？", text) == "1998年7月"
